"""A bounded fuzz run against real processes on loopback: a fixed number of generated examples.

    .venv/bin/python -m scripts.fuzz --examples 2000 --seed 0       # `make fuzz`

Examples are generated from a seeded random source (the same seed gives the same examples) and
spread over five targets: StylizeTiles (header fields, then tiles with random positions, sizes and
byte counts, in random order), unary Stylize (mutated and truncated images, formats, strengths),
Admin (random styles, versions and tokens, with and without `Bearer `), and the gateway's
POST /api/stylize and /api/jobs (random fields, names, values and mutated files). An example fails
when gRPC answers a status outside the contract (UNKNOWN, INTERNAL, DEADLINE_EXCEEDED, ...), when
HTTP answers 5xx other than 503 or a non-JSON error, or when a body shows a traceback. Both processes
must still answer their health checks at the end. Exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
from PIL import Image

from scripts.local_stack import gateway_process, server_process
from tessera.client import TesseraClient
from tessera.v1 import admin_pb2 as apb
from tessera.v1 import admin_pb2_grpc as apb_grpc
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.bff.live import multipart
from tests.support import TINY_STYLE
from tests.support.tiny_model import write_tiny_version

TOKEN = "fuzz-admin-token"
CALL_TIMEOUT_S = 20.0
# Statuses the contract allows for bad input (docs/serving.md); anything else is a finding.
GRPC_ALLOWED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
HTTP_ALLOWED = {200, 202, 400, 404, 405, 413, 415, 422, 429, 503}


class Fuzzer:
    """Generates examples with `rng` and sends them; `outcomes` counts (target, answer) pairs."""

    def __init__(self, rng: random.Random, address: str, url: str):
        self.rng = rng
        self.url = url
        self.channel = grpc.insecure_channel(address, options=[("grpc.max_send_message_length", 64 << 20),
                                                                ("grpc.max_receive_message_length", 64 << 20)])
        self.stub = pb_grpc.StyleTransferStub(self.channel)
        self.admin = apb_grpc.AdminStub(self.channel)
        self.outcomes: Counter = Counter()
        self.failures: list[str] = []
        self.seeds = [self._png(8, 8), self._png(40, 24), self._encoded(30, 20, "JPEG"), self._encoded(20, 20, "WEBP")]

    # ---- values --------------------------------------------------------------------------------
    def _encoded(self, width: int, height: int, fmt: str) -> bytes:
        pixels = np.random.default_rng(self.rng.randrange(1 << 30)).integers(0, 256, (height, width, 3), np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        return buffer.getvalue()

    def _png(self, width: int, height: int) -> bytes:
        return self._encoded(width, height, "PNG")

    def number(self) -> int:
        return self.rng.choice([0, 1, 2, 3, 7, 16, 63, 64, 255, 511, 512, 1024, 4097, 65535, 2**31 - 1, 2**32 - 1,
                                self.rng.randrange(0, 2**32)])

    def text(self) -> str:
        return self.rng.choice(["", TINY_STYLE, TINY_STYLE.upper(), "../etc", "a" * 300, "é✓\u202e", "x\x00y",
                                "".join(chr(self.rng.randrange(32, 0x2FFF)) for _ in range(self.rng.randrange(12)))])

    def strength(self) -> float:
        return self.rng.choice([0.0, 0.5, 1.0, -0.1, 1.5, float("nan"), float("inf"), 1e38])

    def blob(self) -> bytes:
        """A seed image mutated: truncated, bytes flipped, a random prefix or suffix, or pure noise."""
        data = bytearray(self.rng.choice(self.seeds))
        kind = self.rng.randrange(5)
        if kind == 0:
            data = data[:self.rng.randrange(len(data) + 1)]
        elif kind == 1:
            for _ in range(self.rng.randrange(1, 16)):
                data[self.rng.randrange(len(data))] = self.rng.randrange(256)
        elif kind == 2:
            data = bytearray(self.rng.randbytes(self.rng.randrange(64))) + data
        elif kind == 3:
            data = bytearray(self.rng.randbytes(self.rng.randrange(2048)))
        return bytes(data)

    # ---- targets ---------------------------------------------------------------------------------
    def stylize_tiles(self) -> None:
        width, height = self.rng.choice([(32, 24), (1, 1), (0, 5)]) if self.rng.random() < 0.7 else \
            (self.number(), self.number())
        header = pb.StreamHeader(style=self.rng.choice([TINY_STYLE, TINY_STYLE, self.text()]),
                                 version=self.rng.choice([0, 0, 1, self.number()]), image_width=width,
                                 image_height=height, halo=self.rng.choice([0, 16, self.number()]))
        if self.rng.random() < 0.5:
            header.strength = self.strength()
        if self.rng.random() < 0.3:
            header.thumbnail.CopyFrom(pb.RawImage(width=self.number() % 64, height=self.number() % 64,
                                                  rgb=self.rng.randbytes(self.rng.randrange(0, 4096))))
        messages = [pb.StylizeTilesRequest(header=header)]
        for index in range(self.rng.randrange(0, 6)):
            tile_w, tile_h = self.rng.choice([(32, 24), (16, 16), (self.number() % 2048, self.number() % 2048)])
            byte_count = self.rng.choice([tile_w * tile_h * 3, (tile_w + 32) * (tile_h + 32) * 3,
                                          self.rng.randrange(0, 5000)])
            tile = pb.Tile(index=self.rng.choice([index, self.number()]), x=self.rng.choice([0, self.number()]),
                           y=self.rng.choice([0, self.number()]), width=tile_w, height=tile_h,
                           rgb=self.rng.randbytes(min(byte_count, 8 << 20)))
            messages.append(pb.StylizeTilesRequest(tile=tile))
        if self.rng.random() < 0.2:
            self.rng.shuffle(messages)  # a tile before the header, or a second header
        self._grpc("StylizeTiles", lambda: list(self.stub.StylizeTiles(iter(messages), timeout=CALL_TIMEOUT_S)))

    def stylize(self) -> None:
        request = pb.StylizeRequest(style=self.rng.choice([TINY_STYLE, TINY_STYLE, self.text()]), image=self.blob(),
                                    output_format=self.rng.choice(["", "png", "jpeg", "webp", "gif", self.text()]))
        if self.rng.random() < 0.5:
            request.strength = self.strength()
        if self.rng.random() < 0.2:
            request.style_sources.add(preset=self.text())
        self._grpc("Stylize", lambda: self.stub.Stylize(request, timeout=CALL_TIMEOUT_S))

    def admin_call(self) -> None:
        token = self.rng.choice([f"Bearer {TOKEN}", TOKEN, "Bearer wrong", "", "Basic x", f"bearer {TOKEN}"])
        metadata = [("authorization", token)] if token else []
        style, version = self.rng.choice([TINY_STYLE, self.text()]), self.rng.choice([1, 0, self.number()])
        name, call = self.rng.choice([
            ("Status", lambda: self.admin.Status(apb.StatusRequest(), metadata=metadata, timeout=CALL_TIMEOUT_S)),
            ("Pin", lambda: self.admin.Pin(apb.PinRequest(style=style, version=version), metadata=metadata,
                                           timeout=CALL_TIMEOUT_S)),
            ("Unpin", lambda: self.admin.Unpin(apb.UnpinRequest(style=style), metadata=metadata,
                                               timeout=CALL_TIMEOUT_S)),
            ("Rollback", lambda: self.admin.Rollback(apb.RollbackRequest(style=style), metadata=metadata,
                                                     timeout=CALL_TIMEOUT_S)),
        ])
        self._grpc(f"Admin.{name}", call)
        if name in ("Pin", "Rollback"):  # leave the style serving its newest version for the next examples
            self.admin.Unpin(apb.UnpinRequest(style=TINY_STYLE), metadata=[("authorization", f"Bearer {TOKEN}")],
                             timeout=CALL_TIMEOUT_S)

    def http_form(self) -> None:
        fields = {}
        for name in self.rng.sample(["style", "strength", "format", "keep_colors", "preset", "mix", "x"],
                                    self.rng.randrange(0, 5)):
            fields[name] = self.rng.choice([TINY_STYLE, "0.5", "2", "nan", "png", "gif", "true", self.text()])
        if self.rng.random() < 0.7:
            fields.setdefault("style", TINY_STYLE)
        files = {}
        if self.rng.random() < 0.9:
            filename = self.rng.choice(["photo.png", "", "a" * 500 + ".jpg", "../../x.png", "é✓.webp", "x;y.png"])
            files[self.rng.choice(["image", "image", "style_image", "other"])] = (filename, self.blob())
        body, content_type = multipart({k: v.replace("\x00", "") for k, v in fields.items()}, files)
        if self.rng.random() < 0.1:
            body = body[:self.rng.randrange(len(body) + 1)]  # a cut-off form
        path = self.rng.choice(["api/stylize", "api/stylize", "api/jobs"])
        request = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S) as resp:
                status, text = resp.status, None
                resp.read()
        except urllib.error.HTTPError as err:
            with err:
                status, text = err.code, err.read().decode(errors="replace")
        except OSError as err:
            self._fail(f"POST /{path}", f"no HTTP answer: {err}")
            return
        self.outcomes[(f"POST /{path}", status)] += 1
        if status not in HTTP_ALLOWED:
            self._fail(f"POST /{path}", f"status {status}: {text and text[:200]}")
        elif text is not None:
            if "Traceback" in text or "File \"/" in text:
                self._fail(f"POST /{path}", f"traceback in the body: {text[:200]}")
            try:
                assert json.loads(text)["message"]
            except (ValueError, KeyError, AssertionError):
                self._fail(f"POST /{path}", f"error {status} without a JSON message: {text[:200]}")

    def _grpc(self, target: str, call) -> None:
        try:
            call()
            code = grpc.StatusCode.OK
        except grpc.RpcError as err:
            code = err.code()
            if code not in GRPC_ALLOWED:
                self._fail(target, f"{code.name}: {err.details()}")
            elif code != grpc.StatusCode.OK and not err.details():
                self._fail(target, f"{code.name} without a message")
        self.outcomes[(target, code.name)] += 1

    def _fail(self, target: str, what: str) -> None:
        self.failures.append(f"{target}: {what}")

    def run(self, examples: int) -> None:
        targets = [self.stylize_tiles, self.stylize_tiles, self.stylize, self.stylize, self.admin_call,
                   self.http_form, self.http_form]
        for _ in range(examples):
            self.rng.choice(targets)()


def fuzz(examples: int, seed: int) -> dict:
    """Runs `examples` generated examples against a fresh server and gateway; returns the report."""
    with tempfile.TemporaryDirectory(prefix="tessera-fuzz-") as tmp:
        registry = Path(tmp) / "registry"
        write_tiny_version(registry, TINY_STYLE, Path(tmp))
        token_file = Path(tmp) / "admin-token"
        token_file.write_text(TOKEN)
        with server_process(registry, admin_token_file=token_file) as (_, address, _), \
                gateway_process([address]) as (_, url):
            fuzzer = Fuzzer(random.Random(seed), address, url)
            fuzzer.run(examples)
            with TesseraClient(address) as client:
                server_alive = client.check_health()
            with urllib.request.urlopen(url + "healthz", timeout=10) as resp:
                gateway_alive = resp.status == 200
            fuzzer.channel.close()
    failures = fuzzer.failures + [f"{name} stopped answering its health check"
                                  for name, alive in (("server", server_alive), ("gateway", gateway_alive))
                                  if not alive]
    answers: dict[str, dict[str, int]] = {}
    for (target, answer), count in sorted(fuzzer.outcomes.items(), key=str):
        answers.setdefault(target, {})[str(answer)] = count
    return {"examples": examples, "seed": seed, "answers": answers, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = fuzz(args.examples, args.seed)
    print(json.dumps(report, indent=2))
    for failure in report["failures"]:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

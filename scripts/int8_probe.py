"""Would int8 make a style fast enough on a CPU without bf16? A probe, not a serving path.

    .venv/bin/python -m scripts.int8_probe model_registry/blue-ink/12 [--fp32-ends 1] [--tile 1152] \
        [--rounds 3] [--out /tmp/int8-probe]

Quantizes the version's tile model statically (ONNX Runtime's `quantize_static`: QDQ, int8 weights
per output channel in 7 bits (`reduce_range`, so that CPUs without VNNI cannot saturate their 16-bit
pair sums), uint8 activations, min-max calibration on the first six scikit-image photos at 384 px)
with the first and last `--fp32-ends` convolutions left in fp32, and compiles it with OpenVINO's
CPU plugin, which runs QDQ convolutions as int8 kernels. Prints, as one JSON line: the PSNR of the
int8 result against ONNX Runtime fp32 on each photo shrunk to at most 768 px (whole, one tile; the
six calibration photos are among them), and the median seconds of one square tile of `--tile` px on
two threads for ONNX Runtime fp32, OpenVINO fp32 and OpenVINO int8, interleaved with every other
round reversed (bench.timing). Writes each photo's fp32 | int8 pair to `--out` to look at.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from bench.timing import interleaved

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "cat", "colorwheel")
THREADS = 2


def photos() -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 uint8) of the scikit-image samples that are RGB photos."""
    from skimage import data

    found = []
    for name in PHOTOS:
        image = getattr(data, name)()
        if image.ndim == 3 and image.shape[2] >= 3:
            found.append((name, np.ascontiguousarray(image[:, :, :3])))
    return found


def feeds(painter, io: dict, photo: np.ndarray, longest: int) -> dict[str, np.ndarray]:
    """The model's feeds for the HxWx3 uint8 photo shrunk to at most `longest` px (sides cut to
    multiples of 8), as one tile: its input [1, 3, h, w] float32 in [-1, 1] and its context row."""
    from tessera.imageio import make_thumbnail
    from tessera.pixels import rgb8_to_chw

    small = make_thumbnail(photo, longest)
    small = small[: small.shape[0] // 8 * 8, : small.shape[1] // 8 * 8]
    out = {io["input"]: rgb8_to_chw(small)[None]}
    context = painter.context(rgb8_to_chw(make_thumbnail(photo, painter.thumbnail_size))[None])
    if context is not None:
        out[io["context_input"]] = context.astype(np.float32)
    return out


def quantize(model: Path, calibration: list[dict], fp32_ends: int, target: Path) -> None:
    """Write to `target` the QDQ int8 copy of the fp32 ONNX `model` described in the module doc,
    calibrated on `calibration` (feeds dicts); raises what ONNX Runtime's quantization tools raise."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter(calibration)

        def get_next(self):
            return next(self._feeds, None)

    prepared = target.with_name("prepared.onnx")
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
    convs = [n.name for n in onnx.load(prepared).graph.node if n.op_type in ("Conv", "ConvTranspose")]
    kept = convs[:fp32_ends] + convs[len(convs) - fp32_ends:] if fp32_ends else []
    quantize_static(str(prepared), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv", "ConvTranspose"], nodes_to_exclude=kept)


def main(argv: list[str] | None = None) -> int:
    import openvino
    from PIL import Image

    from tessera.onnx_session import open_session
    from tessera.pixels import chw_to_rgb8, rgb8_to_chw
    from trainer.metrics import psnr
    from trainer.painters import first_look_painter

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("version", type=Path)
    parser.add_argument("--fp32-ends", type=int, default=1, help="convolutions kept in fp32 at each end")
    parser.add_argument("--tile", type=int, default=1152)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "int8-probe")
    args = parser.parse_args(argv)

    manifest = json.loads((args.version / "manifest.json").read_text())
    io, model = manifest["io"], args.version / manifest["artifacts"]["onnx"]["file"]
    painter = first_look_painter(args.version, threads=THREADS)
    samples = photos()
    args.out.mkdir(parents=True, exist_ok=True)
    int8_path = args.out / "int8.onnx"
    quantize(model, [feeds(painter, io, p, 384) for _, p in samples[:6]], args.fp32_ends, int8_path)

    fp32 = open_session(model, THREADS)
    core = openvino.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32", "NUM_STREAMS": "1", "INFERENCE_NUM_THREADS": str(THREADS)}
    requests = {name: core.compile_model(str(path), "CPU", config).create_infer_request()
                for name, path in (("openvino fp32", model), ("openvino int8", int8_path))}

    def run_openvino(name: str, feed: dict) -> np.ndarray:
        requests[name].infer(feed)
        return requests[name].get_output_tensor(0).data.copy()

    quality = {}
    for name, photo in samples:
        feed = feeds(painter, io, photo, 768)
        a = chw_to_rgb8(fp32.run(None, feed)[0][0])
        b = chw_to_rgb8(run_openvino("openvino int8", feed)[0])
        quality[name] = round(psnr(rgb8_to_chw(a), rgb8_to_chw(b)), 1)  # of the served uint8 pixels
        Image.fromarray(np.concatenate([a, b], axis=1)).save(args.out / f"{name}.png")

    rng = np.random.default_rng(0)
    tile = {io["input"]: rng.uniform(-1, 1, (1, 3, args.tile, args.tile)).astype(np.float32)}
    if io.get("context_input"):
        tile[io["context_input"]] = feeds(painter, io, samples[0][1], 64)[io["context_input"]]
    paths = {"onnxruntime fp32": lambda: fp32.run(None, tile),
             "openvino fp32": lambda: run_openvino("openvino fp32", tile),
             "openvino int8": lambda: run_openvino("openvino int8", tile)}
    # Two warm-up runs each: a fresh session is slow on its first runs.
    seconds = interleaved(paths, args.rounds, warmup=2, alternate=True)
    medians = {name: statistics.median(v) for name, v in seconds.items()}
    print(json.dumps({"version": str(args.version), "fp32_ends": args.fp32_ends, "psnr_db": quality,
                      "tile_seconds": {k: round(v, 3) for k, v in medians.items()},
                      "int8 speed-up": round(medians["onnxruntime fp32"] / medians["openvino int8"], 2),
                      "pairs": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

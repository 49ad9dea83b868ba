"""What the critic sees, served: realism maps and Grad-CAM from a real server on loopback (docs/explain.md)."""

import re

import grpc
import numpy as np
import pytest
import torch

from scripts.local_stack import running_server
from tessera.client import TesseraClient, TesseraError
from tessera.critic_maps import CriticMaps
from tessera.imageio import decode_image, encode_image
from tessera.pixels import rgb8_to_nchw
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support import TINY_STYLE
from tests.support.critic_version import CRITIC_STYLE, tiny_critic, write_critic_version
from tests.support.tiny_model import write_tiny_version
from trainer.critic_export import gradcam_autograd


def photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx / width, yy / height, (xx * yy) / (width * height)], axis=-1) * 220
    return np.clip(base + rng.normal(0, 25, size=base.shape), 0, 255).astype(np.uint8)


def psnr_unit(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.fixture(scope="module")
def critic() -> torch.nn.Module:
    return tiny_critic()


@pytest.fixture(scope="module")
def server(tmp_path_factory, critic) -> str:
    root = tmp_path_factory.mktemp("critic-registry")
    write_tiny_version(root, TINY_STYLE, tmp_path_factory.mktemp("plain"))
    write_critic_version(root, tmp_path_factory.mktemp("critic"), critic)
    with running_server(root) as address:
        yield address


def autograd_maps(critic, result: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = torch.from_numpy(np.concatenate([rgb8_to_nchw(image), rgb8_to_nchw(result)], 1))
    realism, cam = gradcam_autograd(critic, x)
    return realism[0, 0].numpy(), cam[0, 0].numpy()


def test_served_gradcam_equals_pytorch_autograd(server, critic):
    image = photo(92, 124)
    with grpc.insecure_channel(server) as channel:
        reply = pb_grpc.StyleTransferStub(channel).Stylize(
            pb.StylizeRequest(style=CRITIC_STYLE, image=encode_image(image, "png"), explain=True), timeout=30)
    maps = CriticMaps.empty(reply.maps_layout)
    maps.add(reply.maps)
    realism, cam = autograd_maps(critic, decode_image(reply.image), image)
    assert maps.gradcam.shape == cam.shape and maps.realism.shape == realism.shape
    assert cam.max() > 0
    assert np.abs(maps.gradcam - cam).max() <= 1e-3 * cam.max()
    assert np.abs(maps.realism - realism).max() <= 1e-3


def test_tiled_maps_match_whole_image_maps(server, critic):
    image = photo(150, 212, seed=1)
    with TesseraClient(server, timeout=30) as client:
        result = client.stylize(image, CRITIC_STYLE, tile_size=48, explain=True)
    realism, cam = autograd_maps(critic, result.image, image)
    whole = CriticMaps(realism, cam, result.maps.realism_grid, result.maps.gradcam_grid, result.maps.score)
    for name in ("realism", "gradcam"):
        assert psnr_unit(result.maps.strength(name), whole.strength(name)) >= 40.0
        heat = result.maps.heat_map(name, image.shape[1], image.shape[0])
        assert heat.shape == image.shape and heat.dtype == np.uint8
        assert len(np.unique(heat.reshape(-1, 3), axis=0)) > 10  # a map, not a flat colour


def test_styles_say_which_have_a_critic_and_others_refuse_to_explain(server):
    with TesseraClient(server, timeout=30) as client:
        styles = {s.id: s for s in client.list_styles(include_previews=False)}
        assert styles[CRITIC_STYLE].has_critic and not styles[TINY_STYLE].has_critic
        with pytest.raises(TesseraError) as info:
            client.stylize(photo(40, 40), TINY_STYLE, explain=True)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and "ships no critic" in info.value.message
    with grpc.insecure_channel(server) as channel, pytest.raises(grpc.RpcError) as unary:
        pb_grpc.StyleTransferStub(channel).Stylize(
            pb.StylizeRequest(style=TINY_STYLE, image=encode_image(photo(40, 40), "png"), explain=True), timeout=30)
    assert unary.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_cli_explain_writes_both_heat_maps_beside_the_result(server, tmp_path):
    import subprocess
    import sys

    source = tmp_path / "photo.png"
    source.write_bytes(encode_image(photo(64, 96), "png"))
    target = tmp_path / "out.jpg"
    done = subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(source), "-o", str(target), "--style",
                           CRITIC_STYLE, "--explain", "--server", server], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("realism", "gradcam"):
        heat = decode_image((tmp_path / f"out.{name}.png").read_bytes())
        assert heat.shape == (64, 96, 3)
    refused = subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(source), "-o",
                              str(tmp_path / "x.png"), "--style", TINY_STYLE, "--explain", "--server", server],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "ships no critic" in refused.stderr and "Traceback" not in refused.stderr


@pytest.fixture(scope="module")
def gateway(server):
    from bff import close_app
    from tests.bff.live import make_app

    app = make_app(servers=(server,))
    yield app.test_client()
    close_app(app)


def form(style: str, **fields) -> dict:
    import io

    return {"style": style, "image": (io.BytesIO(encode_image(photo(60, 84), "png")), "p.png"), **fields}


def test_rest_stylize_and_jobs_link_png_heat_maps_and_refuse_styles_without_a_critic(gateway):
    import time

    styles = {s["id"]: s for s in gateway.get("/api/styles").get_json()["styles"]}
    assert styles[CRITIC_STYLE]["has_critic"] and not styles[TINY_STYLE]["has_critic"]
    resp = gateway.post("/api/stylize", data=form(CRITIC_STYLE, explain="true"))
    assert resp.status_code == 200, resp.get_json()
    links = dict(part.split("; rel=") for part in resp.headers["Link"].split(", "))
    urls = {rel.strip('"'): url.strip("<>") for url, rel in links.items()}
    assert set(urls) == {"realism-map", "gradcam-map"}
    for url in urls.values():
        heat = gateway.get(url)
        assert heat.status_code == 200 and heat.mimetype == "image/png"
        assert decode_image(heat.data).shape == (60, 84, 3)
    job = gateway.post("/api/jobs", data=form(CRITIC_STYLE, explain="1")).get_json()
    deadline = time.monotonic() + 30
    while (status := gateway.get(job["status_url"]).get_json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status["state"] == "done" and gateway.get(status["maps"]["gradcam"]).status_code == 200
    plain = gateway.post("/api/jobs", data=form(CRITIC_STYLE)).get_json()
    while gateway.get(plain["status_url"]).get_json()["state"] not in ("done", "failed"):
        time.sleep(0.1)
    assert gateway.get(f"/api/jobs/{plain['id']}/maps/realism").get_json()["error"] == "no_maps"
    assert gateway.get(f"/api/jobs/{plain['id']}/maps/colour").status_code == 404
    refused = gateway.post("/api/stylize", data=form(TINY_STYLE, explain="true"))
    assert refused.status_code == 400 and refused.get_json()["error"] == "no_critic"
    assert gateway.post("/api/stylize", data=form(CRITIC_STYLE, explain="maybe")).status_code == 400


def _smallest_side(message: str) -> int:
    found = re.search(r"explain needs an image at least (\d+) px on each side", message)
    assert found, message
    return int(found.group(1))


@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 40), (40, 3), (11, 11)])
def test_an_image_smaller_than_the_critics_patch_is_explained_enlarged_and_a_raw_stream_refused_in_words(
        server, height, width):
    """The critic's convolutions need their kernels' width: on a smaller image ONNX Runtime failed
    inside the call ("Invalid input shape"), answered as INTERNAL (a new user's trial found it), then
    it was refused. Such an image is now painted enlarged to 16 px on its short side
    (tessera/small_images.py), by the client and by unary Stylize, and the critic judges that; a raw
    stream that sends it as it is is still refused with the smallest side that explains."""
    small = photo(height, width)
    with TesseraClient(server, timeout=30) as client:
        result = client.stylize(small, CRITIC_STYLE, explain=True)
        assert result.image.shape == small.shape
        assert result.maps.realism.size >= 1 and result.maps.gradcam.size >= 1
    with grpc.insecure_channel(server) as channel:
        reply = pb_grpc.StyleTransferStub(channel).Stylize(
            pb.StylizeRequest(style=CRITIC_STYLE, image=encode_image(small, "png"), explain=True), timeout=30)
        assert decode_image(reply.image).shape == small.shape
        assert min(reply.maps_layout.width, reply.maps_layout.height) >= 16
        header = pb.StreamHeader(style=CRITIC_STYLE, image_width=width, image_height=height, explain=True)
        with pytest.raises(grpc.RpcError) as streamed:
            next(iter(pb_grpc.StyleTransferStub(channel).StylizeTiles(
                iter([pb.StylizeTilesRequest(header=header)]), timeout=30)))
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert min(height, width) < _smallest_side(streamed.value.details())


def test_a_brush_scale_that_shrinks_the_image_below_the_critics_patch_explains_enlarged(server):
    """0.08 paints 200x96 at 16x8 px: a scale a brush takes (16 px on the long side), but too short for
    the critic's patch. It was refused; unary Stylize now paints that working image enlarged to 32x16
    and the critic judges it there. A raw stream with that scale is still refused in words."""
    with grpc.insecure_channel(server) as channel:
        reply = pb_grpc.StyleTransferStub(channel).Stylize(
            pb.StylizeRequest(style=CRITIC_STYLE, image=encode_image(photo(96, 200), "png"), explain=True,
                              scale=0.08), timeout=30)
        assert decode_image(reply.image).shape == (96, 200, 3)
        assert (reply.maps_layout.width, reply.maps_layout.height) == (32, 16)
        header = pb.StreamHeader(style=CRITIC_STYLE, image_width=200, image_height=96, explain=True, scale=0.08)
        with pytest.raises(grpc.RpcError) as streamed:
            next(iter(pb_grpc.StyleTransferStub(channel).StylizeTiles(
                iter([pb.StylizeTilesRequest(header=header)]), timeout=30)))
    assert streamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_under_brush_scale_the_maps_cover_the_working_resolution_and_draw_at_full_size(server):
    image = photo(96, 128, seed=2)
    with grpc.insecure_channel(server) as channel:
        reply = pb_grpc.StyleTransferStub(channel).Stylize(
            pb.StylizeRequest(style=CRITIC_STYLE, image=encode_image(image, "png"), explain=True, scale=0.5),
            timeout=30)
    assert (reply.maps_layout.width, reply.maps_layout.height) == (64, 48)
    maps = CriticMaps.empty(reply.maps_layout)
    maps.add(reply.maps)
    assert maps.realism.shape == (48 // 4 - 2, 64 // 4 - 2)
    heat = maps.heat_map("realism", 128, 96)
    assert heat.shape == (96, 128, 3)
    # The right edge of the full-size map shows the grid's last column, not a stretched first quarter.
    edge = maps.heat_map("realism", 64, 48)[:, -1]
    assert np.abs(heat[::2, -1].astype(int) - edge.astype(int)).max() <= 40

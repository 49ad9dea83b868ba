"""The compact generator's image border: edge replication instead of the frame zero padding paints."""

import numpy as np
import pytest
import torch

from trainer.config import ConfigError, TrainConfig
from trainer.halo import measure_halo
from trainer.networks import define_G, generator_args
from trainer.onnx_init import InitError, load_onnx_weights
from trainer.tiled_check import run_tiled, run_whole

LUMA = torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]


def _frame(out: torch.Tensor, width: int = 8) -> float:
    """Mean luminance (0..255 scale) of the outer ``width`` px minus that of the next ``width`` px band in."""
    luma = (out * LUMA).sum(1)[0] * 127.5
    outer = torch.ones_like(luma, dtype=torch.bool)
    outer[width:-width, width:-width] = False
    band = torch.ones_like(outer)
    band[2 * width:-2 * width, 2 * width:-2 * width] = False
    return float(luma[outer].mean() - luma[band & ~outer].mean())


def _shipped(version: str, border: int):
    """A shipped student's weights (zero padding, trained without a border) in a compact generator."""
    net = define_G("compact", ngf=16, upsample="resize", context_dim=6, border=border).eval()
    load_onnx_weights(net, f"model_registry/{version}/model.onnx")
    return net


def _net(border: int, seed: int = 1):
    net = define_G("compact", ngf=8, upsample="resize", border=border, seed=seed).eval()
    with torch.no_grad():  # trained-like biases: zero padding then visibly differs from the inside
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.bias.normal_(0, 0.3)
    return net


@pytest.mark.parametrize("version", ["blue-ink/2", "umber-oil/3"])
def test_a_uniform_photo_gets_no_frame_with_a_border_and_one_without(version):
    photo = torch.tensor([120, 140, 90]).view(1, 3, 1, 1).expand(1, 3, 96, 128) / 127.5 - 1
    with torch.no_grad():
        plain, bordered = _shipped(version, 0)(photo), _shipped(version, 40)(photo)
    assert abs(_frame(plain, 4)) > 3  # what the shipped students paint: a frame along the edges
    assert bordered.std(dim=(2, 3)).max() < 1e-5  # uniform in, uniform out: no frame at all
    assert abs(_frame(bordered, 4)) < 1e-3


def test_the_border_keeps_the_generator_tile_safe_and_its_halo():
    plain, bordered = _net(0), _net(40)
    bordered.load_state_dict(plain.state_dict())
    assert measure_halo(bordered, multiple=4) == measure_halo(plain, multiple=4)
    halo = measure_halo(bordered, multiple=4)
    image = np.random.default_rng(0).uniform(-1, 1, (3, 112, 136)).astype(np.float32)

    def run(batch):
        with torch.no_grad():
            return bordered(torch.from_numpy(batch)).numpy()

    tiled, whole = run_tiled(run, image, 48, halo, 4), run_whole(run, image, 4)
    assert np.abs(tiled - whole).max() < 1e-5
    # Away from the image edges the border changes nothing.
    with torch.no_grad():
        inside = (plain(torch.from_numpy(image)[None]) - bordered(torch.from_numpy(image)[None]))[..., 40:-40, 40:-40]
    assert float(inside.abs().max()) < 1e-5


def test_border_is_recorded_only_when_set_and_validated():
    assert "border" not in generator_args("compact")
    assert generator_args("compact", border=40)["border"] == 40
    with pytest.raises(ValueError, match="multiple of 4"):
        define_G("compact", border=6)
    with pytest.raises(ValueError, match="only the compact generator"):
        define_G("resnet_6blocks", border=8)
    for bad in ({"border": 6}, {"border": 8, "netG": "unet_256"}):
        settings = {"kind": "distill", "data_a": "x", "teacher_onnx": "t", "netG": "compact", **bad}
        cfg = TrainConfig(**settings).resolved()
        with pytest.raises(ConfigError, match="border"):
            cfg.validate()


def test_weights_come_back_from_an_exported_onnx_file(tmp_path):
    from trainer.onnx_export import export_generator

    source, fresh = _net(0, seed=1), _net(40, seed=2)
    path = tmp_path / "model.onnx"
    export_generator(source, path, torch.rand(1, 3, 32, 32))
    load_onnx_weights(fresh, path)
    for name, tensor in source.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    with pytest.raises(InitError, match="the network wants"):
        load_onnx_weights(define_G("compact", ngf=16, upsample="resize"), path)


def test_a_shipped_version_is_adopted_as_a_run_and_served_with_a_border(tmp_path):
    import json

    import onnxruntime as ort

    from scripts.train_defaults import _distilled
    from trainer.cli import main
    from trainer.runs import load_generator

    # Blue Ink v2 is the compact student: its recipe, not the multistyle26-shaped one shipped since v6.
    config = tmp_path / "blue-ink.config.json"
    config.write_text(json.dumps(_distilled("blue-ink", "Blue Ink", "The compact student.", 24).config))
    run = tmp_path / "run"
    assert main(["adopt", "model_registry/blue-ink/2", "--config", str(config), "--run", str(run)]) == 0
    net, info = load_generator(run, border=40)  # what `evaluate --border 40` and `export --border 40` run
    assert info["model_args"]["border"] == 40 and info["step"] == 3000  # the adopted version's steps
    photo = np.random.default_rng(1).uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
    context = np.zeros((1, 6), np.float32)
    session = ort.InferenceSession("model_registry/blue-ink/2/model.onnx", providers=["CPUExecutionProvider"])
    old = session.run(None, {"image": photo, "context": context})[0]
    with torch.no_grad():
        new = net(torch.from_numpy(photo), torch.from_numpy(context)).numpy()
    inside = (slice(None), slice(None), slice(40, -40), slice(40, -40))
    assert np.abs(old[inside] - new[inside]).max() < 1e-4  # the same weights: only the edges changed
    assert np.abs(old - new).max() > 0.05
    # Bad input is refused before any work, with the reason.
    assert main(["adopt", "model_registry/blue-ink/2", "--config", str(tmp_path / "nope.json"),
                 "--run", str(tmp_path / "r2")]) == 2
    (tmp_path / "reg").mkdir()  # so that the refusal is the border's, not a missing registry's
    assert main(["export", str(run), "--registry", str(tmp_path / "reg"), "--style", "x", "--border", "6"]) == 2

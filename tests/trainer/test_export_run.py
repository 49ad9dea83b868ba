"""export RUN_DIR: a trained run becomes a valid registry version that the real server serves."""

import json
import re

import numpy as np
import pytest
import torch

from scripts.local_stack import running_server
from tessera.client import TesseraClient
from tessera.imageio import make_thumbnail
from tessera.pixels import rgb8_to_chw, rgb8_to_nchw
from tessera.registry import read_manifest, read_style_meta, verify_checksums
from trainer.cli import main
from trainer.compact import image_context
from trainer.metrics import psnr
from trainer.onnx_export import session
from trainer.runs import load_generator

THUMBNAIL = 256


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 2-step distilled compact generator with context, evaluated and exported as style 'negative'."""
    from tests.trainer.conftest import tiny_flags, write_images  # module scope: no function fixtures

    root = tmp_path_factory.mktemp("export")
    photos = write_images(root / "photos", 3, size=(64, 48), seed=5)
    negative = write_images(root / "negatives", 3, size=(64, 48), seed=5, transform=lambda a: 255 - a)
    run = root / "run"
    assert main(["train", "--data-a", str(photos), "--data-b", str(negative), "--steps", "2",
                 "--run-dir", str(run), *tiny_flags(netG="compact", context=True)]) == 0
    assert main(["evaluate", str(run), "--holdout-a", str(photos), "--holdout-b", str(negative),
                 "--crops", "4", "--crop-size", "32"]) == 0
    registry = root / "registry"
    registry.mkdir()
    assert main(["export", str(run), "--registry", str(registry), "--style", "negative",
                 "--display-name", "Negative", "--license", "CC0-1.0"]) == 0
    return run, registry / "negative" / "1"


def test_export_writes_a_complete_checked_version(exported):
    run, version = exported
    manifest = read_manifest(version)
    verify_checksums(version, manifest)
    raw = json.loads((version / "manifest.json").read_text())
    assert {"model.onnx", "context.onnx", "preview.jpg"} <= {p.name for p in version.iterdir()}
    assert (manifest.tiling.mode, manifest.tiling.tile_safe, manifest.tiling.size_multiple) == ("crop", True, 4)
    assert manifest.tiling.halo % 4 == 0 and 16 <= manifest.tiling.halo <= 48
    training = raw["training"]
    assert (training["kind"], training["architecture"], training["steps"]) == ("pix2pix", "compact", 2)
    assert training["architecture_args"]["context_dim"] == 6 and 0 < training["gflops_per_256"] < 2
    # HEAD, "-dirty" when run from a tree with changes (publish.git_commit), or "unknown" outside git.
    assert "negatives" in training["dataset"] and re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", training["git_commit"])
    assert raw["metrics"] == json.loads((run / "metrics.json").read_text())["metrics"]
    assert raw["export"]["tiled_vs_whole_psnr_db"] >= 50
    assert read_style_meta(version.parent).display_name == "Negative"


def test_exported_onnx_matches_pytorch_on_new_sizes(exported):
    run, version = exported
    net, _ = load_generator(run)
    image = torch.rand(3, 3, 52, 76) * 2 - 1
    context = session(version / "context.onnx").run(None, {"thumbnail": image[:1].numpy()})[0]
    torch.testing.assert_close(torch.from_numpy(context), image_context(image[:1]), atol=1e-5, rtol=0)
    out = session(version / "model.onnx").run(None, {"image": image.numpy(), "context": context.repeat(3, 0)})[0]
    with torch.no_grad():
        expected = net(image, torch.from_numpy(context).expand(3, -1))
    assert np.abs(out - expected.numpy()).max() <= 1e-4


def test_exported_version_is_served_like_pytorch(exported):
    run, version = exported
    net, _ = load_generator(run)
    rgb = np.random.default_rng(0).integers(0, 256, (300, 340, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb8_to_nchw(rgb))
    thumb = rgb8_to_nchw(make_thumbnail(rgb, THUMBNAIL))
    with torch.no_grad():
        expected = net(x, image_context(torch.from_numpy(thumb)))[0]
    with running_server(version.parent.parent) as address, TesseraClient(address, timeout=60) as client:
        served = client.stylize(rgb, "negative", tile_size=128).image
    served_chw = torch.from_numpy(rgb8_to_chw(served))
    assert psnr(served_chw, expected) >= 45


def test_tensorrt_request_without_a_gpu_writes_onnx_only(exported, tmp_path, capsys):
    run, _ = exported
    assert main(["export", str(run), "--registry", str(tmp_path), "--style", "negative", "--tensorrt"]) == 0
    assert "TensorRT not available here (no GPU / tensorrt not installed); wrote ONNX only" in capsys.readouterr().out
    assert read_manifest(tmp_path / "negative" / "1").tensorrt == ()


@pytest.mark.parametrize(("style", "message"), [("Bad Style!", "'Bad Style!' is not a style id: 1 to 64"),
                                                ("ok", "no checkpoint")])
def test_bad_export_input_gets_one_clear_line(tmp_path, capsys, exported, style, message):
    run = exported[0] if style != "ok" else tmp_path / "not-a-run"
    (tmp_path / "reg").mkdir()
    assert main(["export", str(run), "--registry", str(tmp_path / "reg"), "--style", style]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(("norm", "has_context"), [("instance", True), ("batch", False)])
def test_a_run_is_exported_with_the_tiling_remedy_its_normalisation_needs(tmp_path, paired_dirs, tiny, norm,
                                                                          has_context):
    run = tmp_path / "run"
    assert main(["train", "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1]), "--steps", "1",
                 "--run-dir", str(run), *tiny(norm=norm)]) == 0
    (tmp_path / "reg").mkdir()
    assert main(["export", str(run), "--registry", str(tmp_path / "reg"), "--style", "s"]) == 0
    manifest = read_manifest(tmp_path / "reg" / "s" / "1")
    assert (manifest.context_onnx is not None, manifest.tiling.mode) == (has_context, "crop")


def test_export_ships_the_runs_discriminator_as_a_critic_equal_to_autograd_gradcam(exported):
    from trainer.critic_export import gradcam_autograd
    from trainer.runs import load_discriminator

    run, version = exported
    manifest = read_manifest(version)
    assert (manifest.critic.conditional, manifest.critic.origin, manifest.critic.receptive_field) == (True, "training",
                                                                                                    70)
    d, conditional, _ = load_discriminator(run)
    x = torch.rand(1, 6, 80, 72, generator=torch.Generator().manual_seed(4)) * 2 - 1
    realism, cam = gradcam_autograd(d, x)
    got = session(version / "critic.onnx").run(None, {"image": x[:, 3:].numpy(), "photo": x[:, :3].numpy(),
                                                       "score_grid": np.array(realism.shape[2:], np.float32)})
    assert conditional and float(cam.max()) > 0
    assert np.abs(got[0] - realism.numpy()).max() <= 1e-3
    assert np.abs(got[1] - cam.numpy()).max() <= 1e-3 * float(cam.max())


def test_an_image_border_is_exported_for_the_server_to_add_at_image_edges_only(exported, tmp_path):
    run, version = exported
    registry = tmp_path / "reg"
    registry.mkdir()
    assert main(["export", str(run), "--registry", str(registry), "--style", "negative", "--border", "16",
                 "--critic-from", str(version)]) == 0
    bordered = registry / "negative" / "1"
    assert read_manifest(bordered).tiling.border == 16
    # The critic of the version named, byte for byte, with its manifest section.
    assert (bordered / "critic.onnx").read_bytes() == (version / "critic.onnx").read_bytes()
    source, carried = (json.loads((v / "manifest.json").read_text()) for v in (version, bordered))
    assert carried["critic"] == source["critic"] and carried["export"]["critic_from_version"] == 1
    rgb = np.random.default_rng(2).integers(0, 256, (200, 236, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb8_to_nchw(rgb))
    context = image_context(torch.from_numpy(rgb8_to_nchw(make_thumbnail(rgb, THUMBNAIL))))
    with torch.no_grad():
        with_border = load_generator(run, border=16)[0](x, context)[0]
        without = load_generator(run)[0](x, context)[0]
    # The graph itself has no border: it is the generator without one ...
    graph = session(bordered / "model.onnx").run(None, {"image": x.numpy(), "context": context.numpy()})[0][0]
    assert np.abs(graph - without.numpy()).max() <= 1e-4
    assert np.abs(graph - with_border.numpy()).max() > 1e-2
    # ... and the server adds it: tiled, the served image is the generator with its border.
    with running_server(registry) as address, TesseraClient(address, timeout=60) as client:
        served = client.stylize(rgb, "negative", tile_size=64).image
    assert psnr(torch.from_numpy(rgb8_to_chw(served)), with_border) >= 45

"""import-cyclegan: a state dict with the CycleGAN project's key names becomes a served, seamless version."""

import argparse
import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from scripts.local_stack import running_server
from tessera.client import TesseraClient
from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_chw
from tessera.registry import read_manifest, verify_checksums
from trainer import import_cyclegan
from trainer.metrics import psnr
from trainer.networks import define_G
from trainer.onnx_export import session
from trainer.thumb_norm import ContextNormGenerator, StatsCollector
from trainer.tiled_check import run_tiled

THUMBNAIL = 256  # the manifest's thumbnail_size: the server shrinks the client's thumbnail to this


def _chw(rgb8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb8_to_chw(rgb8))


def _to_rgb8(chw: torch.Tensor) -> np.ndarray:
    return chw_to_rgb8(chw.numpy())


def _photo(width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.BICUBIC))


@pytest.fixture(scope="module")
def instance_net():
    """A CycleGAN-project resnet_6blocks with InstanceNorm and random weights (ngf 8 keeps it small)."""
    return define_G("resnet_6blocks", norm="instance", ngf=8, seed=0).eval()


@pytest.fixture(scope="module")
def imported(instance_net, tmp_path_factory):
    """The net saved as latest_net_G.pth and imported; returns the version folder."""
    folder = tmp_path_factory.mktemp("cyclegan")
    checkpoint = folder / "latest_net_G.pth"
    torch.save(instance_net.state_dict(), checkpoint)
    registry = folder / "registry"
    version = import_cyclegan.import_checkpoint(checkpoint, registry, "monet", "resnet_6blocks", "instance",
                                                log=lambda _msg: None)
    return registry / "monet" / str(version)


def test_checkpoint_uses_the_cyclegan_project_key_names(instance_net):
    keys = set(instance_net.state_dict())
    assert {"model.1.weight", "model.1.bias", "model.10.conv_block.1.weight", "model.10.conv_block.5.weight",
            "model.15.conv_block.5.bias", "model.23.weight"} <= keys


def test_instance_norm_import_is_a_thumbnail_context_version(imported):
    manifest = read_manifest(imported)
    verify_checksums(imported, manifest)
    raw = json.loads((imported / "manifest.json").read_text())
    assert manifest.context_onnx is not None and raw["io"]["context_input"] == "context"
    assert (manifest.tiling.mode, manifest.tiling.needs_thumbnail, manifest.tiling.size_multiple) == ("crop", True, 4)
    # Receptive field of resnet_6blocks: 3 (7x7) + 1 + 2 (strided) + 12 convs at stride 4 + ... < 64.
    assert 40 <= manifest.tiling.halo <= 64
    assert raw["training"]["kind"] == "import-cyclegan"
    assert raw["training"]["architecture_args"]["ngf"] == 8
    assert raw["export"]["max_abs_diff"] <= 1e-4 and raw["export"]["tiled_vs_whole_psnr_db"] >= 50


def _onnx_tiled(version_dir, image: torch.Tensor, statistics_from: torch.Tensor, tile: int) -> torch.Tensor:
    halo = read_manifest(version_dir).tiling.halo
    context = session(version_dir / "context.onnx").run(None, {"thumbnail": statistics_from[None].numpy()})[0]
    generator = session(version_dir / "model.onnx")

    def run(batch):
        return generator.run(None, {"image": batch, "context": np.repeat(context, len(batch), axis=0)})[0]

    return torch.from_numpy(run_tiled(run, image.numpy(), tile, halo, 4))


def test_tiles_with_full_resolution_statistics_equal_the_instance_norm_model(imported, instance_net):
    image = _chw(_photo(256, 192))
    tiled = _onnx_tiled(imported, image, statistics_from=image, tile=64)
    with torch.no_grad():
        whole = instance_net(image[None])[0]
    assert whole.std() > 0.1  # a real picture, not a flat field
    assert psnr(tiled, whole) >= 50


def test_tiles_with_thumbnail_statistics_are_close_and_beat_per_tile_instance_norm(imported, instance_net):
    rgb = _photo(512, 384)
    image = _chw(rgb)
    tiled = _onnx_tiled(imported, image, statistics_from=_chw(make_thumbnail(rgb, THUMBNAIL)), tile=128)
    with torch.no_grad():
        whole = instance_net(image[None])[0]
        naive = torch.from_numpy(run_tiled(lambda b: instance_net(torch.from_numpy(b)).numpy(), image.numpy(),
                                           128, 64, 4))
    # Random weights amplify the detail a thumbnail lacks; measured here about 27 dB (per tile: ~20 dB).
    assert psnr(tiled, whole) >= 24
    assert psnr(tiled, whole) > psnr(naive, whole) + 3


def test_served_pixels_match_pytorch(imported, instance_net):
    small = _photo(200, 160)  # fits the thumbnail: the statistics are the image's own
    large = _photo(384, 320)  # the server shrinks its thumbnail to 256 px
    collector, generator = StatsCollector(instance_net), ContextNormGenerator(instance_net)
    with torch.no_grad():
        expected_small = _to_rgb8(instance_net(_chw(small)[None])[0])
        context = collector(_chw(make_thumbnail(large, THUMBNAIL))[None])
        expected_large = _to_rgb8(generator(_chw(large)[None], context)[0])
    with running_server(imported.parent.parent) as address, TesseraClient(address, timeout=60) as client:
        served_small = client.stylize(small, "monet", tile_size=64).image
        served_large = client.stylize(large, "monet", tile_size=128).image
    assert psnr(_chw(served_small), _chw(expected_small)) >= 50
    assert psnr(_chw(served_large), _chw(expected_large)) >= 50


def _import_new(tmp_path, arch: str, norm: str, ngf: int):
    """Save a fresh define_G(arch, norm, ngf) as a checkpoint, import it, return the version's manifest."""
    checkpoint = tmp_path / "latest_net_G.pth"
    torch.save(define_G(arch, norm=norm, ngf=ngf, seed=1).state_dict(), checkpoint)
    version = import_cyclegan.import_checkpoint(checkpoint, tmp_path / "reg", "style", arch, norm,
                                                log=lambda _msg: None)
    return read_manifest(tmp_path / "reg" / "style" / str(version))


def test_batch_norm_import_is_tile_safe_without_context(tmp_path):
    manifest = _import_new(tmp_path, "resnet_6blocks", "batch", ngf=8)
    assert manifest.context_onnx is None
    assert (manifest.tiling.mode, manifest.tiling.tile_safe, manifest.tiling.needs_thumbnail) == ("crop", True, False)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    import_cyclegan.add_arguments(parser)
    return import_cyclegan.main(parser.parse_args(list(argv)))


def test_wrong_architecture_lists_the_missing_keys_and_suggests_the_right_one(imported, tmp_path, capsys):
    checkpoint = tmp_path / "latest_net_G.pth"
    torch.save(define_G("resnet_6blocks", norm="instance", ngf=8).state_dict(), checkpoint)
    (tmp_path / "reg").mkdir()
    code = _cli(str(checkpoint), "--registry", str(tmp_path / "reg"), "--style", "x", "--arch", "resnet_9blocks")
    err = capsys.readouterr().err
    assert code == 2
    assert "does not fit --arch resnet_9blocks --norm instance: missing" in err
    assert "model.16.conv_block.1.weight" in err
    assert "it looks like --arch resnet_6blocks --norm instance" in err
    assert not (tmp_path / "reg" / "x").exists()


@pytest.mark.parametrize("name", ["latest_net_G.pth", "chelsea.jpg"])
def test_a_file_that_is_not_a_checkpoint_gets_one_clear_line(tmp_path, capsys, name):
    """PyTorch's own message is many lines and advises weights_only=False, which would run the file's code."""
    bogus = tmp_path / name
    if name.endswith(".jpg"):
        Image.fromarray(_photo(64, 48)).save(bogus)
    else:
        bogus.write_text("not a checkpoint")
    assert _cli(str(bogus), "--registry", str(tmp_path), "--style", "x") == 2
    err = capsys.readouterr().err
    assert err == f"import-cyclegan: {bogus} is not a PyTorch checkpoint (state dict)\n"


def test_a_checkpoint_holding_python_objects_is_not_loaded(tmp_path, capsys):
    pickled = tmp_path / "latest_net_G.pth"
    torch.save({"model": define_G("resnet_6blocks", norm="batch", ngf=8)}, pickled)  # the module, not its weights
    assert _cli(str(pickled), "--registry", str(tmp_path), "--style", "x") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds pickled Python objects besides tensors, which are not loaded" in err


def test_dropout_data_parallel_prefix_and_old_instance_norm_buffers_are_understood(tmp_path):
    """Checkpoints from nn.DataParallel ('module.' keys), with dropout blocks, saved by PyTorch < 0.4
    (running statistics stored for InstanceNorm) all load into the right network."""
    net = define_G("resnet_6blocks", norm="instance", ngf=8, use_dropout=True, seed=2)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    state["module.model.2.running_mean"] = torch.zeros(8)
    checkpoint_path = tmp_path / "latest_net_G.pth"
    torch.save(state, checkpoint_path)
    loaded, args = import_cyclegan.build_generator(import_cyclegan.load_state_dict(checkpoint_path),
                                                   "resnet_6blocks", "instance")
    assert args["use_dropout"] is True
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net.eval()(x))


def test_unet_import_is_declared_for_feathered_tiles(tmp_path):
    """unet_256 sees far beyond any tile (8 halvings): honest 'feather' mode, ThumbInstanceNorm context."""
    manifest = _import_new(tmp_path, "unet_256", "instance", ngf=4)
    assert (manifest.tiling.mode, manifest.tiling.tile_safe, manifest.tiling.size_multiple) == ("feather", False, 256)
    assert manifest.context_onnx is not None


def test_a_larger_thumbnail_serves_images_up_to_its_size_like_the_original_network(instance_net, tmp_path):
    checkpoint = tmp_path / "latest_net_G.pth"
    torch.save(instance_net.state_dict(), checkpoint)
    registry = tmp_path / "reg"
    registry.mkdir()
    assert _cli(str(checkpoint), "--registry", str(registry), "--style", "big-thumb", "--arch", "resnet_6blocks",
                "--thumbnail-size", "512") == 0
    assert read_manifest(registry / "big-thumb" / "1").tiling.thumbnail_size == 512
    rgb = _photo(480, 352)  # the whole image is its own thumbnail
    with torch.no_grad():
        expected = _to_rgb8(instance_net(_chw(rgb)[None])[0])
    with running_server(registry) as address, TesseraClient(address, timeout=60) as client:
        served = client.stylize(rgb, "big-thumb", tile_size=128).image
    assert psnr(_chw(served), _chw(expected)) >= 50


def test_a_thumbnail_larger_than_the_client_sends_is_refused(tmp_path, capsys):
    checkpoint = tmp_path / "latest_net_G.pth"
    torch.save(define_G("resnet_6blocks", norm="instance", ngf=8).state_dict(), checkpoint)
    code = _cli(str(checkpoint), "--registry", str(tmp_path), "--style", "x", "--arch", "resnet_6blocks",
                "--thumbnail-size", "1024")
    assert code == 2
    assert "thumbnail size must be 16 to 512 px, got 1024" in capsys.readouterr().err


def test_an_optional_discriminator_becomes_the_critic_and_an_instance_norm_one_is_refused(tmp_path, capsys):
    from trainer.networks import define_D

    checkpoint, d_path = tmp_path / "latest_net_G.pth", tmp_path / "latest_net_D_A.pth"
    torch.save(define_G("resnet_6blocks", norm="batch", ngf=8, seed=1).state_dict(), checkpoint)
    torch.save(define_D(3, ndf=8, n_layers=3, norm="batch", seed=2).state_dict(), d_path)
    (tmp_path / "reg").mkdir()
    args = [str(checkpoint), "--registry", str(tmp_path / "reg"), "--style", "x", "--norm", "batch", "--arch",
            "resnet_6blocks"]
    assert _cli(*args, "--discriminator", str(d_path)) == 0
    manifest = read_manifest(tmp_path / "reg" / "x" / "1")
    assert manifest.artifacts.critic.file == "critic.onnx" and manifest.critic.receptive_field == 70
    assert (manifest.critic.conditional, manifest.critic.score) == (False, "least_squares")
    assert _cli(*args) == 0 and read_manifest(tmp_path / "reg" / "x" / "2").critic is None  # without: still valid
    capsys.readouterr()
    assert _cli(*args, "--discriminator", str(d_path), "--discriminator-norm", "none") == 2  # batch-norm keys
    assert "does not fit a PatchGAN" in capsys.readouterr().err
    assert _cli(*args, "--discriminator", str(d_path), "--discriminator-norm", "instance") == 2
    assert "not tile-safe" in capsys.readouterr().err
    assert not (tmp_path / "reg" / "x" / "3").exists()

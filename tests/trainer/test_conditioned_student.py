"""The any-painting student: its generator, the teacher-pairs cache, training, and export to a loadable version."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_server.model_version import LoadSettings, load_version
from tests.trainer.conftest import write_images
from trainer import networks, runs
from trainer.cli import main
from trainer.code_generator import CodeGenerator
from trainer.conditioned_data import CodePairs
from trainer.conditioned_export import export_conditioned
from trainer.conditioned_pairs import PAIRS_FILE, make_pairs
from trainer.style_images import HOLDOUT, TRAIN, style_images
from trainer.tiled_check import run_tiled, run_whole

TEACHER = Path(__file__).resolve().parents[2] / "model_registry" / "any-painting" / "1"
CODE_DIM = 100


def _context(code: torch.Tensor) -> torch.Tensor:
    return torch.cat([torch.tensor([[0.1, 0.0, -0.1, 0.5, 0.4, 0.3]]), code], dim=1)


def _trained_like(net: CodeGenerator) -> CodeGenerator:
    """Weights as after training: the modulation is no longer the identity."""
    with torch.no_grad():
        net.film[2].weight.normal_(0.0, 0.05)
    return net.eval()


def test_the_code_changes_the_painting_and_tiles_equal_the_whole_image():
    net = _trained_like(networks.define_G(**networks.code_args(CODE_DIM, ngf=8), seed=0))
    gen = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 96, 128, generator=gen) * 2 - 1
    a, b = (_context(torch.randn(1, CODE_DIM, generator=gen)) for _ in range(2))
    with torch.no_grad():
        assert (net(image, a) - net(image, b)).abs().mean() > 1e-3

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(batch), a.expand(len(batch), -1)).numpy()

    whole = run_whole(run, image[0].numpy(), 4)
    tiled = run_tiled(run, image[0].numpy(), 32, 40, 4)
    assert np.abs(tiled - whole).max() < 1e-5


def test_no_held_out_style_image_is_a_training_one():
    train, holdout = style_images(split=TRAIN), style_images(split=HOLDOUT)
    assert {s.id for s in train}.isdisjoint({s.id for s in holdout})
    assert any(s.committable for s in holdout), "the grid needs held-out looks that may be committed"
    assert all(s.committable for s in holdout if s.id.startswith(("ms26-", "marbling-", "mosaic-")))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """A tiny cache: 3 groups of 2 windows of 32 px, painted by the real any-painting teacher."""
    root = tmp_path_factory.mktemp("pairs")
    photos = write_images(root / "photos", 2, size=(112, 96))
    out = root / "cache"
    assert make_pairs(out, photos, groups=3, windows=2, core=32, sizes=(96,), teacher=TEACHER,
                      style_ids=("marbling-1", "mosaic-2"), log=lambda *a, **k: None) == 3
    return out


def test_the_cache_holds_teacher_windows_with_the_students_halo_and_context(pairs):
    settings = json.loads((pairs / PAIRS_FILE).read_text())
    assert settings["styles"] == ["marbling-1", "mosaic-2"]
    with np.load(pairs / "group-00000.npz") as group:
        assert group["photo"].shape == (2, 32 + 2 * 40, 32 + 2 * 40, 3)
        assert group["teacher"].shape == (2, 32, 32, 3)
        assert group["context"].shape == (6 + CODE_DIM,) and np.isfinite(group["context"]).all()
        assert group["teacher"].std() > 1.0, "the teacher painted nothing"
    source = CodePairs(str(pairs), crop=16, batch_size=2)
    batch = source.batch(0)
    assert batch["A"].shape == (2, 3, 96, 96) and batch["B"].shape == (2, 3, 16, 16)
    assert batch["context"].shape == (2, 106)


def test_a_student_trains_on_the_cache_and_exports_a_version_the_server_loads(pairs, tmp_path, tiny):
    run_dir = tmp_path / "run"
    args = ["train", "--kind", "conditioned", "--data-a", str(pairs), "--steps", "2", "--run-dir", str(run_dir),
            "--batch-size", "2", "--lambda-gan", "0.2", "--lr", "0.001", *tiny(netG="compact", crop_size=16)]
    assert main(args) == 0
    records = runs.read_losses(run_dir)
    assert set(records[0]) == {"step", "D_real", "D_fake", "G_GAN", "G_recon"}
    registry = tmp_path / "registry"
    version = export_conditioned(run_dir, registry, "any-painting-fast", TEACHER, log=lambda *a: None)
    folder = registry / "any-painting-fast" / str(version)
    manifest = json.loads((folder / "manifest.json").read_text())
    teacher = json.loads((TEACHER / "manifest.json").read_text())
    assert manifest["kind"] == "conditioned" and manifest["conditioning"]["context_stats"] == 6
    assert manifest["presets"] == teacher["presets"]
    assert (folder / "encoder.onnx").read_bytes() == (TEACHER / "encoder.onnx").read_bytes()
    assert manifest["export"]["tiled_vs_whole_psnr_db"] >= 50
    loaded = load_version(folder, LoadSettings(threads=1))
    assert loaded.manifest.conditioning.code_size == CODE_DIM


def test_conditioned_runs_need_a_cache_folder(pairs, tmp_path, tiny, capsys):
    args = ["train", "--kind", "conditioned", "--data-a", str(tmp_path), "--steps", "1",
            "--run-dir", str(tmp_path / "run"), *tiny(netG="compact", crop_size=16)]
    assert main(args) == 2
    assert "teacher-pairs" in capsys.readouterr().err

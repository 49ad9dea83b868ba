"""Small generated image folders, a tiny ONNX teacher and other helpers for trainer tests.

Images are smooth random colour fields (so crops and flips change them visibly) written as PNG.
Paired B images are the colour negative of A: an exact, learnable mapping.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from trainer.onnx_export import export_generator


def tiny_flags(**settings) -> list[str]:
    """CLI flags for a tiny, quick run: 32 px crops, 8-channel networks, one thread, no progress bar."""
    values = {"crop_size": 32, "load_size": 36, "ngf": 8, "ndf": 8, "num_threads": 1, "sample_every": 2,
              "checkpoint_every": 2, "netG": "resnet_6blocks", **settings}
    flags = ["--no-progress"]
    for key, value in values.items():
        name = key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        else:
            flags.append(f"--{name}={value}")
    return flags


@pytest.fixture
def tiny():
    """``tiny(**settings)``: CLI flags for a tiny training run (see ``tiny_flags``)."""
    return tiny_flags


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread per test; training in-process also switches on deterministic algorithms: undo it."""
    previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous[0])
    torch.use_deterministic_algorithms(previous[1])


def astronaut(width: int, height: int) -> np.ndarray:
    """scikit-image's astronaut photo resized (Lanczos) to width x height, HxWx3 uint8."""
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.LANCZOS))


def random_image(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth random uint8 RGB image: a coarse random grid upsampled bilinearly."""
    coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    return np.asarray(coarse.resize((width, height), Image.BILINEAR))


def write_images(folder: Path, count: int, size=(40, 32), seed=0, transform=None, prefix="img") -> Path:
    """Write ``count`` PNGs named <prefix>NN.png into ``folder``; ``transform`` maps each array first."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        arr = random_image(rng, *size)
        Image.fromarray(transform(arr) if transform else arr).save(folder / f"{prefix}{i:02d}.png")
    return folder


@pytest.fixture
def image_folder():
    """The ``write_images`` helper, for tests that need their own folders."""
    return write_images


@pytest.fixture
def paired_dirs(tmp_path) -> tuple[Path, Path]:
    """Folders A and B with 4 matching 40x32 images each; B is the colour negative of A."""
    return (write_images(tmp_path / "A", 4, seed=1),
            write_images(tmp_path / "B", 4, seed=1, transform=lambda a: 255 - a))


@pytest.fixture
def side_by_side_dir(tmp_path) -> Path:
    """4 images of 80x32: A on the left half, its negative on the right."""
    return write_images(tmp_path / "AB", 4, size=(40, 32), seed=2,
                        transform=lambda a: np.concatenate([a, 255 - a], axis=1))


@pytest.fixture
def unpaired_dirs(tmp_path) -> tuple[Path, Path]:
    """Folders A (4 images) and B (3 unrelated images)."""
    return write_images(tmp_path / "uA", 4, seed=3), write_images(tmp_path / "uB", 3, seed=4)


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    """3 'photos' of 64x48 for distillation."""
    return write_images(tmp_path / "photos", 3, size=(64, 48), seed=5)


class _TinyTeacher(torch.nn.Module):
    """A stride-4 image-to-image net with a whole-image normalisation, like real style networks."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.down = torch.nn.Conv2d(3, 8, 4, stride=4)
        self.norm = torch.nn.InstanceNorm2d(8)
        self.up = torch.nn.ConvTranspose2d(8, 3, 4, stride=4)

    def forward(self, image):
        return torch.sigmoid(self.up(torch.relu(self.norm(self.down(image)))))


@pytest.fixture(scope="session")
def tiny_teacher_onnx(tmp_path_factory) -> Path:
    """An ONNX teacher: input `image` [1,3,h,w] in [0,1] -> output in [0,1], h and w multiples of 4."""
    path = tmp_path_factory.mktemp("teacher") / "teacher.onnx"
    with warnings.catch_warnings():
        # The tracer warns that InstanceNorm's shape check becomes a constant; harmless here.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        export_generator(_TinyTeacher().eval(), path, torch.rand(1, 3, 32, 32))
    return path


def instance_norm_inputs(net: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """Run ``net(*inputs)`` and return what its InstanceNorm2d layers saw: each layer's per-channel
    input mean, then its std (sqrt(biased variance + eps)), in call order, as one [N, K] row: the
    context row ThumbInstanceNorm should compute for these inputs."""
    seen: list[torch.Tensor] = []

    def record(module, args, out):
        x = args[0]
        seen.append(torch.cat([x.mean(dim=(2, 3)), torch.sqrt(x.var(dim=(2, 3), unbiased=False) + module.eps)], 1))

    hooks = [m.register_forward_hook(record) for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    try:
        with torch.no_grad():
            net(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return torch.cat(seen, dim=1)

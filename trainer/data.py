"""Training data: image folders, random crops, scale jitter and flips, reproducible per step.

A batch is a pure function of (seed, step, rank): sample indices come from per-epoch permutations
of this rank's shard and augmentations from a generator seeded with the step, so a resumed run
sees exactly the batches an uninterrupted one would. Images are [-1, 1] float32 NCHW tensors.

Sources:
- paired: folders A and B whose files match by name (stem), or one folder of side-by-side A|B;
- unpaired: folders A and B, sampled independently;
- distill: one folder of photos; B is the teacher's output on the whole (resized) photo, computed
  once per photo and cached, and crops sit on a 4 px grid because the teacher's output changes
  with sub-stride shifts. Each item also carries the photo's context (per-channel mean and std).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from tessera.imageio import make_thumbnail
from tessera.pixels import rgb8_to_nchw
from trainer.compact import image_context

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm"}
# Distillation crops align to the teacher's total stride.
TEACHER_GRID = 4
# Contexts come from an area-averaged thumbnail of this longest side, as the server computes them.
CONTEXT_THUMBNAIL = 256

Teacher = Callable[[np.ndarray], np.ndarray]  # uint8 HxWx3 photo -> uint8 HxWx3 stylized


class DataError(ValueError):
    """A data folder or file cannot be used; the message names it and says why."""


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (not recursive), sorted by name; DataError if none or no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist or is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"data folder {folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


@functools.lru_cache(maxsize=16)  # decoded photos can be tens of MB each
def load_image(path: Path) -> Image.Image:
    """The image at ``path`` as RGB, decoded once (small cache); DataError naming the file otherwise."""
    try:
        with Image.open(path) as im:
            im.load()
            # Upright as the camera meant it, the way the gateway and the server read photos.
            return ImageOps.exif_transpose(im).convert("RGB")
    except UnidentifiedImageError:
        raise DataError(f"{path} is not an image Pillow can read") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 HxWx3 arrays -> float32 NCHW tensor in [-1, 1]."""
    return torch.from_numpy(rgb8_to_nchw(np.stack(images)))


class Sampler:
    """Which item the k-th sample of this rank is: per-epoch shuffles of this rank's shard."""

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1, stream: int = 0):
        self.shard = np.arange(rank, n, world)
        if len(self.shard) == 0:
            raise DataError(f"{n} images cannot be shared among {world} processes; use fewer processes")
        self.seed, self.rank, self.stream = seed, rank, stream

    def index(self, k: int) -> int:
        epoch, pos = divmod(k, len(self.shard))
        return int(self.shard[self._permutation(epoch)[pos]])

    @functools.lru_cache(maxsize=4)  # noqa: B019  (a sampler lives as long as its run)
    def _permutation(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.stream, self.rank, epoch])
        return rng.permutation(len(self.shard))


class Augment:
    """Scale jitter, random crop and flip, applied identically to the images of one pair.

    ``load`` = 0 turns scale jitter off (images are cropped as they are; they must be big enough).
    """

    def __init__(self, crop: int, load: int, flip: bool, grid: int = 1):
        self.crop, self.load, self.flip, self.grid = crop, load, flip, grid

    def __call__(self, rng: np.random.Generator, *images: Image.Image) -> list[np.ndarray]:
        w, h = size = images[0].size
        if self.load:
            scale = int(rng.integers(self.crop, self.load + 1)) / min(w, h)
            size = (max(self.crop, round(w * scale)), max(self.crop, round(h * scale)))
        x = int(rng.integers(0, (size[0] - self.crop) // self.grid + 1)) * self.grid
        y = int(rng.integers(0, (size[1] - self.crop) // self.grid + 1)) * self.grid
        flip = self.flip and bool(rng.integers(0, 2))
        out = []
        for im in images:
            im = im.resize(size, Image.BICUBIC) if im.size != size else im
            im = im.crop((x, y, x + self.crop, y + self.crop))
            if flip:
                im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            out.append(np.asarray(im))
        return out


def whole_image_context(image: Image.Image) -> torch.Tensor:
    """Context [6] of a whole image (see ``image_context``), from its thumbnail as the server does it."""
    return image_context(to_tensor([make_thumbnail(np.asarray(image), CONTEXT_THUMBNAIL)]))[0]


class _Source:
    """Common batching: subclasses provide ``__len__`` and ``item(k, rng)``.

    With ``with_context`` each item also carries the context of its whole input image, for
    generators that take one (the crop alone would give the wrong statistics).
    """

    def __init__(self, augment: Augment, seed: int = 0, rank: int = 0, world: int = 1, batch_size: int = 1,
                 with_context: bool = False):
        self.augment, self.seed, self.rank, self.batch_size = augment, seed, rank, batch_size
        self.with_context = with_context
        self.sampler = Sampler(len(self), seed, rank, world)

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        """The batch of training ``step`` for this rank: {"A", "B"[, "context"]} tensors."""
        items = []
        for i in range(self.batch_size):
            k = step * self.batch_size + i
            rng = np.random.default_rng([self.seed, 1000 + self.rank, k])
            items.append(self.item(k, rng))
        out = {key: to_tensor([it[key] for it in items]) for key in ("A", "B")}
        if "context" in items[0]:
            out["context"] = torch.stack([it["context"] for it in items])
        return out

    def probe(self, count: int = 4) -> dict[str, torch.Tensor]:
        """A fixed batch of ``count`` inputs (the same every call), for the watchdog's diversity check."""
        items = [self.item(k, np.random.default_rng([self.seed, 7777, k])) for k in range(count)]
        out = {"A": to_tensor([it["A"] for it in items])}
        if "context" in items[0]:
            out["context"] = torch.stack([it["context"] for it in items])
        return out

    def _context(self, whole_input: Image.Image) -> dict:
        return {"context": whole_image_context(whole_input)} if self.with_context else {}


class PairedFolders(_Source):
    """Folders A and B holding the same file names (stems); extensions may differ."""

    def __init__(self, dir_a: str, dir_b: str, augment: Augment, swap: bool = False, **common):
        files_a, files_b = list_images(dir_a), list_images(dir_b)
        by_stem = {p.stem: p for p in files_b}
        missing = [p.name for p in files_a if p.stem not in by_stem]
        extra = sorted(set(by_stem) - {p.stem for p in files_a})
        if missing or extra:
            detail = f"{missing[0]} has no partner in {dir_b}" if missing else \
                f"{by_stem[extra[0]].name} has no partner in {dir_a}"
            raise DataError(f"paired folders do not match ({len(missing) + len(extra)} unmatched): {detail}")
        self.pairs = [(a, by_stem[a.stem]) for a in files_a]
        if swap:
            self.pairs = [(b, a) for a, b in self.pairs]
        super().__init__(augment, **common)

    def __len__(self) -> int:
        return len(self.pairs)

    def item(self, k: int, rng: np.random.Generator) -> dict:
        path_a, path_b = self.pairs[self.sampler.index(k)]
        im_a, im_b = load_image(path_a), load_image(path_b)
        if im_b.size != im_a.size:
            im_b = im_b.resize(im_a.size, Image.BICUBIC)
        a, b = self.augment(rng, im_a, im_b)
        return {"A": a, "B": b, **self._context(im_a)}


class SideBySide(_Source):
    """One folder of images with A on the left half and B on the right (the pix2pix datasets' format)."""

    def __init__(self, dir_ab: str, augment: Augment, swap: bool = False, **common):
        self.files, self.swap = list_images(dir_ab), swap
        super().__init__(augment, **common)

    def __len__(self) -> int:
        return len(self.files)

    def item(self, k: int, rng: np.random.Generator) -> dict:
        path = self.files[self.sampler.index(k)]
        im = load_image(path)
        if im.width < 2:
            raise DataError(f"{path} is {im.width} px wide; a side-by-side pair needs two halves")
        half = im.width // 2
        left, right = im.crop((0, 0, half, im.height)), im.crop((half, 0, 2 * half, im.height))
        whole_a, whole_b = (right, left) if self.swap else (left, right)
        a, b = self.augment(rng, whole_a, whole_b)
        return {"A": a, "B": b, **self._context(whole_a)}


class UnpairedFolders(_Source):
    """Folders A and B of unrelated images; B is drawn from its own shuffle, as CycleGAN does."""

    def __init__(self, dir_a: str, dir_b: str, augment: Augment, swap: bool = False, **common):
        self.files_a, self.files_b = list_images(dir_a), list_images(dir_b)
        if swap:
            self.files_a, self.files_b = self.files_b, self.files_a
        super().__init__(augment, **common)
        self.sampler_b = Sampler(len(self.files_b), self.seed, self.rank, common.get("world", 1), stream=1)

    def __len__(self) -> int:
        return len(self.files_a)

    def item(self, k: int, rng: np.random.Generator) -> dict:
        im_a = load_image(self.files_a[self.sampler.index(k)])
        im_b = load_image(self.files_b[self.sampler_b.index(k)])
        (a,) = self.augment(rng, im_a)
        (b,) = self.augment(rng, im_b)
        return {"A": a, "B": b, **self._context(im_a)}


class TeacherPairs(_Source):
    """Photos paired with a teacher's output on the whole photo, plus the photo's context.

    With several ``sizes`` each item first draws one (multi-scale distillation: the teacher paints
    strokes of a fixed pixel size, so a photo at 1536 px shows finer structure than at 512); the
    teacher runs once per photo and size.
    """

    def __init__(self, dir_photos: str, teacher: Teacher, sizes: tuple[int, ...], augment: Augment, **common):
        self.files, self.teacher, self.sizes = list_images(dir_photos), teacher, tuple(sizes)
        self._cache: dict[tuple[int, int], tuple[Image.Image, Image.Image, torch.Tensor]] = {}
        super().__init__(augment, **common)

    def __len__(self) -> int:
        return len(self.files)

    def pair(self, index: int, size: int | None = None) -> tuple[Image.Image, Image.Image, torch.Tensor]:
        """(resized photo, teacher output, context) for one photo at one size (default the first)."""
        size = size or self.sizes[0]
        if (index, size) not in self._cache:
            path = self.files[index]
            photo = fit_to_grid(load_image(path), size, self.augment.crop, path)
            styled = self.teacher(np.asarray(photo))
            if styled.shape != np.asarray(photo).shape:
                raise DataError(f"the teacher turned {path} ({photo.size}) into shape {styled.shape}")
            context = whole_image_context(photo)
            self._cache[index, size] = (photo, Image.fromarray(styled), context)
        return self._cache[index, size]

    def item(self, k: int, rng: np.random.Generator) -> dict:
        # One size draws nothing, so single-size runs see the batches they always saw.
        size = self.sizes[int(rng.integers(0, len(self.sizes)))] if len(self.sizes) > 1 else self.sizes[0]
        photo, styled, context = self.pair(self.sampler.index(k), size)
        a, b = self.augment(rng, photo, styled)
        return {"A": a, "B": b, "context": context}


def fit_to_grid(photo: Image.Image, longest: int, crop: int, path: Path) -> Image.Image:
    """Resize so the longer side is ``longest`` and both sides are multiples of the teacher's grid."""
    scale = longest / max(photo.size)
    w, h = (max(TEACHER_GRID, round(s * scale) // TEACHER_GRID * TEACHER_GRID) for s in photo.size)
    if min(w, h) < crop:
        raise DataError(f"{path} is {photo.width}x{photo.height}; resized for the teacher to {w}x{h} it is "
                        f"smaller than the {crop} px crop (raise teacher_size or lower crop_size)")
    return photo.resize((w, h), Image.LANCZOS)

"""Batches for the any-painting student from the cache ``teacher-pairs`` wrote (trainer/conditioned_pairs.py).

An item is one cached window: ``A`` the photo crop with the student's halo on every side, ``B`` the
teacher's served pixels of the crop's core, ``context`` the student's context row for that photo
and look ([6 + D]: thumbnail statistics, then the style code). Crops of ``crop`` px are cut at a
random place of the cached core (on the 4 px grid the teacher's output depends on), so a cache of
256 px windows gives many different 128 px crops. No flips: the teacher is not flip-equivariant.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import torch

from trainer.conditioned_pairs import PAIRS_FILE
from trainer.data import TEACHER_GRID, DataError, _Source


class CodePairs(_Source):
    """Windows of the cache folder as a training source (see the module docstring)."""

    def __init__(self, folder: str, crop: int, seed: int = 0, rank: int = 0, world: int = 1, batch_size: int = 1,
                 with_context: bool = True):
        self.folder = Path(folder)
        try:
            settings = json.loads((self.folder / PAIRS_FILE).read_text())
        except (OSError, json.JSONDecodeError):
            raise DataError(f"{self.folder} holds no {PAIRS_FILE}; make the cache with `teacher-pairs --out "
                            f"{self.folder}`") from None
        self.files = sorted(self.folder.glob("group-[0-9]*[0-9].npz"))
        if not self.files:
            raise DataError(f"{self.folder} holds no group-*.npz files yet; run `teacher-pairs` first")
        self.windows, self.core, self.halo = settings["windows"], settings["core"], settings["halo"]
        if crop > self.core or crop % TEACHER_GRID:
            raise DataError(f"crop_size {crop} must be a multiple of {TEACHER_GRID} and at most the cached "
                            f"windows' {self.core} px")
        self.crop = crop
        super().__init__(augment=None, seed=seed, rank=rank, world=world, batch_size=batch_size, with_context=True)

    def __len__(self) -> int:
        return len(self.files) * self.windows

    @functools.lru_cache(maxsize=64)  # noqa: B019  (a source lives as long as its run)
    def _group(self, index: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
        with np.load(self.files[index]) as data:
            return data["photo"], data["teacher"], torch.from_numpy(data["context"].astype(np.float32))

    def item(self, k: int, rng: np.random.Generator) -> dict:
        group, window = divmod(self.sampler.index(k), self.windows)
        photos, teachers, context = self._group(group)
        steps = (self.core - self.crop) // TEACHER_GRID + 1
        x, y = (int(rng.integers(0, steps)) * TEACHER_GRID for _ in range(2))
        h, c = self.halo, self.crop
        return {"A": photos[window, y:y + c + 2 * h, x:x + c + 2 * h], "B": teachers[window, y:y + c, x:x + c],
                "context": context}

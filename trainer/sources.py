"""Which data source a training run reads (trainer.data's folders and teacher pairs, or
trainer.conditioned_data's style-code pairs), chosen from its TrainConfig and sharded across ranks."""

from __future__ import annotations

from trainer.conditioned_data import CodePairs
from trainer.config import UNPAIRED_KINDS
from trainer.data import (
    TEACHER_GRID,
    Augment,
    PairedFolders,
    SideBySide,
    Teacher,
    TeacherPairs,
    UnpairedFolders,
    _Source,
)


def build_source(cfg, rank: int = 0, world: int = 1, teacher: Teacher | None = None) -> _Source:
    """The data source a TrainConfig asks for, sharded for ``rank`` of ``world``."""
    swap = cfg.direction == "BtoA"
    common = {"seed": cfg.seed, "rank": rank, "world": world, "batch_size": cfg.batch_size,
              "with_context": cfg.context}
    if cfg.kind == "conditioned":
        return CodePairs(cfg.data_a, cfg.crop_size, **common)
    if cfg.kind == "distill":
        # No scale jitter or flips: the teacher's output is only right for the photo it saw.
        augment = Augment(cfg.crop_size, 0, flip=False, grid=TEACHER_GRID)
        return _distill_source(cfg, teacher, augment, common)
    augment = Augment(cfg.crop_size, cfg.load_size, cfg.flip)
    if cfg.kind in UNPAIRED_KINDS:
        return UnpairedFolders(cfg.data_a, cfg.data_b, augment, swap=swap, **common)
    if cfg.data_ab:
        return SideBySide(cfg.data_ab, augment, swap=swap, **common)
    return PairedFolders(cfg.data_a, cfg.data_b, augment, swap=swap, **common)


def _distill_source(cfg, teacher: Teacher | None, augment: Augment, common: dict) -> TeacherPairs:
    if teacher is None:
        raise ValueError("distillation data needs a teacher")
    return TeacherPairs(cfg.data_a, teacher, cfg.scales(), augment, **common)

"""The training kinds: what one step does for pix2pix, distillation, CycleGAN, CUT and the style-code student."""

from __future__ import annotations

from trainer.config import TrainConfig
from trainer.distributed import DistContext
from trainer.models.base import GANModel
from trainer.models.conditioned import ConditionedModel
from trainer.models.cut import CUTModel
from trainer.models.cyclegan import CycleGANModel
from trainer.models.pix2pix import Pix2PixModel


def build_model(cfg: TrainConfig, ctx: DistContext) -> GANModel:
    """The model for ``cfg.kind``; distillation trains a pix2pix model on teacher-made pairs."""
    if cfg.kind == "cut":
        return CUTModel(cfg, ctx)
    if cfg.kind == "conditioned":
        return ConditionedModel(cfg, ctx)
    return CycleGANModel(cfg, ctx) if cfg.kind == "cyclegan" else Pix2PixModel(cfg, ctx)

"""The manifest's ``critic`` section: how to run a version's ``critic.onnx`` (docs/registry.md, docs/explain.md).

A critic is the discriminator that judged the generator's outputs (or one fitted to them afterwards,
``origin: post-hoc``). Its ONNX graph takes ``image`` (float32 [N, 3, H, W] in [-1, 1], the stylized
result), ``photo`` (the same shape, the input photo) when ``conditional``, and ``score_grid`` (float32
[2]: rows and columns of the whole image's realism grid, which fix Grad-CAM's channel weights), and
returns ``realism`` (float32 [N, 1, h, w]: the per-patch "real" score) and ``gradcam`` (float32
[N, 1, h', w']: ReLU of the last convolutional block's activations weighted by the gradient of the
mean score, Selvaraju et al.). ``realism_layers`` and ``gradcam_layers`` give each grid's
convolution chain as (kernel, stride, padding); tessera.critic_geometry turns them into cell positions.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from tessera.critic_geometry import chain_geometry
from tessera.registry.manifest_base import Text, _Schema
from tessera.tiling import MAX_HALO

CRITIC_IMAGE_INPUT = "image"
CRITIC_PHOTO_INPUT = "photo"
CRITIC_GRID_INPUT = "score_grid"
REALISM_OUTPUT = "realism"
GRADCAM_OUTPUT = "gradcam"
# How a realism score reads as "looks real": the sigmoid of a logit (vanilla GAN loss), or a
# least-squares score whose real target is 1 and fake target 0 (LSGAN), clipped to [0, 1].
SCORES = ("logit", "least_squares")


class CriticInfo(_Schema):
    """What a server and client need to run a critic and place its maps."""

    conditional: StrictBool
    score: Literal["logit", "least_squares"]
    realism_layers: tuple[tuple[StrictInt, StrictInt, StrictInt], ...] = Field(min_length=1)
    gradcam_layers: tuple[tuple[StrictInt, StrictInt, StrictInt], ...] = Field(min_length=1)
    receptive_field: StrictInt = Field(ge=1)
    # At most a stream's largest halo: an explained stream's tiles carry it besides the generator's.
    halo: StrictInt = Field(ge=0, le=MAX_HALO)
    origin: Literal["training", "post-hoc"] = "training"
    steps: StrictInt = Field(default=0, ge=0)
    description: Text = ""

    @property
    def stride(self) -> int:
        """Pixels between the realism grid's cells: an explained stream's tiles start on this grid."""
        return chain_geometry(self.realism_layers).stride

    @model_validator(mode="after")
    def _geometry_agrees(self) -> CriticInfo:
        try:
            geometry = chain_geometry(self.realism_layers)
            chain_geometry(self.gradcam_layers)
        except ValueError as exc:
            raise ValueError(f"critic layers: {exc}") from None
        if self.realism_layers[:len(self.gradcam_layers)] != self.gradcam_layers:
            raise ValueError("critic.gradcam_layers must be the first layers of critic.realism_layers")
        if geometry.receptive_field != self.receptive_field or geometry.halo != self.halo:
            raise ValueError(f"critic.receptive_field and halo must be {geometry.receptive_field} and "
                             f"{geometry.halo}, as its layers give")
        return self

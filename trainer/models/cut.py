"""CUT: contrastive unpaired translation (Park, Efros, Zhang and Zhu 2020), one generator instead of two.

Instead of CycleGAN's second generator and cycle loss, content is kept by a patchwise contrastive
(PatchNCE) loss: a patch of the output, seen through the generator's own encoder, must be closer to
the input patch at the same place than to the other patches of the same input. For each of the
compact generator's four encoder maps (``CompactGenerator.encode``) ``nce_patches`` positions are
drawn; a small MLP per map (``PatchHeads``) projects the feature vectors there to 256 unit-length
numbers; the loss is the cross-entropy of telling the right input patch among all drawn ones, with
temperature ``nce_tau`` (0.07). The input's features are the keys and are not back-propagated through.
With ``lambda_identity`` > 0 the same loss on B images through G (identity NCE, the paper's default)
is averaged in, which keeps G from changing what already looks like B.

The adversarial side is the CycleGAN kind's: LSGAN by default, a PatchGAN or projected
discriminator (``netD``), optional differentiable augmentation, texture and tone terms on G's outputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainer.diffaug import augment, parse_policy
from trainer.losses import GANLoss, StyleLoss, colour_layout_loss, tone_layout_loss
from trainer.models.base import GANModel, set_requires_grad

HEAD_DIM = 256


class PatchHeads(nn.Module):
    """One two-layer MLP per encoder map; ``forward(maps, positions)`` -> unit vectors [N, P, 256] per map."""

    def __init__(self, channels: list[int], dim: int = HEAD_DIM):
        super().__init__()
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, dim), nn.ReLU(), nn.Linear(dim, dim)) for c in channels)

    def forward(self, maps: list[torch.Tensor], positions: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for mlp, m, pos in zip(self.mlps, maps, positions, strict=True):
            picked = m.flatten(2).transpose(1, 2)[:, pos]  # [N, P, C]
            out.append(nn.functional.normalize(mlp(picked), dim=-1))
        return out


def patch_nce(queries: torch.Tensor, keys: torch.Tensor, tau: float) -> torch.Tensor:
    """PatchNCE of [N, P, D] unit vectors: patch p of ``queries`` must pick patch p of ``keys`` (same image)."""
    logits = queries @ keys.detach().transpose(1, 2) / tau  # [N, P, P]; the diagonal holds the positives
    target = torch.arange(logits.shape[1], device=logits.device).expand(logits.shape[0], -1)
    return nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten())


class CUTModel(GANModel):
    """G: A -> B, D judging B, PatchHeads F; G and F share one optimizer."""

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.add_generator("G", seed_offset=0)
        self.add_discriminator("D", input_nc=3, seed_offset=1)
        with torch.no_grad():
            channels = [m.shape[1] for m in self.nets["G"].encode(torch.zeros(1, 3, 16, 16, device=self.device))]
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed + 2)
            self.nets["F"] = PatchHeads(channels).to(self.device)
        self.net_args["F"] = {"channels": channels, "dim": HEAD_DIM}
        self.add_optimizer("G", ["G", "F"])
        self.add_optimizer("D", ["D"])
        self.gan_loss = GANLoss(cfg.gan_mode)
        self.augmentation = parse_policy(cfg.diffaug)
        self.style_loss = StyleLoss(self.device) if cfg.lambda_style > 0 else None
        self._rng = torch.Generator()  # patch positions and augmentation, reseeded every step
        self.finish_setup()

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        self._rng.manual_seed(int(np.random.default_rng([self.cfg.seed, 3000 + self.ctx.rank, step]).integers(2**62)))
        g = self.wrapped["G"]
        fake_b = g(real_a, batch.get("context"))
        idt_b = g(real_b) if self.cfg.lambda_identity > 0 else None
        losses = self._update_discriminator(real_b, fake_b)
        losses.update(self._update_generator(real_a, real_b, fake_b, idt_b, batch.get("context")))
        self.last_visuals = [real_a.detach(), fake_b.detach(), real_b]
        return losses

    def nce(self, source: torch.Tensor, output: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Mean PatchNCE over the encoder maps: output patches against the source patches at the same places."""
        g = self.nets["G"]
        keys = g.encode(source, context)
        queries = g.encode(output)
        positions = [torch.randperm(m.shape[2] * m.shape[3], generator=self._rng)[:self.cfg.nce_patches]
                     for m in keys]
        heads = self.wrapped["F"]
        k, q = heads(keys, positions), heads(queries, positions)
        return sum(patch_nce(qi, ki, self.cfg.nce_tau) for qi, ki in zip(q, k, strict=True)) / len(q)

    def _update_generator(self, real_a, real_b, fake_b, idt_b, context) -> dict[str, float]:
        c = self.cfg
        set_requires_grad([self.nets["D"]], False)
        terms = {"G_GAN": self.gan_loss(self._judge(self.nets["D"], fake_b), True) * c.lambda_gan}
        nce = self.nce(real_a, fake_b, context)
        if idt_b is not None:
            nce = 0.5 * (nce + self.nce(real_b, idt_b))
        terms["NCE"] = nce * c.lambda_nce
        if self.style_loss is not None:
            terms["style"] = self.style_loss(fake_b, real_b) * c.lambda_style
        if c.lambda_tone > 0:
            terms["tone"] = tone_layout_loss(fake_b, real_a) * c.lambda_tone
        if c.lambda_colour > 0:
            terms["colour"] = colour_layout_loss(fake_b, real_a) * c.lambda_colour
        self.optimizers["G"].zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        self.optimizers["G"].step()
        return {k: v.item() for k, v in terms.items()}

    def _update_discriminator(self, real_b, fake_b) -> dict[str, float]:
        d = self.wrapped["D"]
        set_requires_grad([self.nets["D"]], True)
        loss = 0.5 * (self.gan_loss(self._judge(d, real_b), True)
                      + self.gan_loss(self._judge(d, fake_b.detach()), False))
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["D"].step()
        return {"D": loss.item()}

    def _judge(self, d, images: torch.Tensor):
        return d(augment(images, self.augmentation, self._rng) if self.augmentation else images)

"""CycleGAN: two generators (A->B, B->A), two discriminators, cycle and identity losses, image pools.

Naming follows the CycleGAN paper's code: D_A judges domain B (real B against G_A's fakes), D_B
judges domain A. The generators share one optimizer, as do the discriminators.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainer.diffaug import augment, parse_policy
from trainer.losses import GANLoss, StyleLoss, colour_layout_loss, tone_layout_loss
from trainer.models.base import GANModel, judged_without_side_effects, set_requires_grad


class ImagePool:
    """Shows the discriminator a mix of new fakes and up to ``size`` earlier ones (Shrivastava et al.).

    Each incoming image is stored while the pool fills; after that, with probability 1/2 it replaces
    a random stored image and the stored one is returned instead. The coin flips come from the
    caller's generator, so a resumed run makes the same choices.
    """

    def __init__(self, size: int):
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif rng.random() < 0.5:
                i = int(rng.integers(0, self.size))
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class CycleGANModel(GANModel):
    """G_A: A -> B and G_B: B -> A, trained to fool D_A and D_B and to undo each other."""

    generator_name = "G_A"
    d_loss_names = ("D_A", "D_B")
    g_adversarial_names = ("G_A", "G_B")

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.add_generator("G_A", seed_offset=0)
        # G_B turns paintings back into photos, whose fine detail a Kuwahara filter would wipe out.
        self.add_generator("G_B", seed_offset=1, served=False)
        self.add_discriminator("D_A", input_nc=3, seed_offset=2)
        self.add_discriminator("D_B", input_nc=3, seed_offset=3)
        self.add_optimizer("G", ["G_A", "G_B"])
        self.add_optimizer("D", ["D_A", "D_B"])
        self.gan_loss = GANLoss(cfg.gan_mode)
        self.l1 = nn.L1Loss()
        self.pools = {"A": ImagePool(cfg.pool_size), "B": ImagePool(cfg.pool_size)}
        self.augmentation = parse_policy(cfg.diffaug)
        self.style_loss = StyleLoss(self.device) if cfg.lambda_style > 0 else None
        self._augment_rng = torch.Generator()  # reseeded every step, from the run's seed and the step
        self.finish_setup()

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        self._augment_rng.manual_seed(
            int(np.random.default_rng([self.cfg.seed, 3000 + self.ctx.rank, step]).integers(2**62)))
        g_a, g_b = self.wrapped["G_A"], self.wrapped["G_B"]
        # Only A images come with their whole-image context; G_B and second passes compute their own.
        fake_b = g_a(real_a, batch.get("context"))
        fake_a = g_b(real_b)
        losses = self._update_generators(real_a, real_b, fake_a, fake_b, g_a(fake_a), g_b(fake_b))
        rng = np.random.default_rng([self.cfg.seed, 2000 + self.ctx.rank, step])
        losses.update(self._update_discriminators(real_a, real_b, fake_a, fake_b, rng))
        self.last_visuals = [real_a.detach(), fake_b.detach(), real_b]
        self.last_pair = (real_a.detach(), fake_b.detach())
        return losses

    def critic_scores(self, real_a, fake_b):
        return judged_without_side_effects(self.nets["D_A"], fake_b)  # D_A judges domain B, G_A's outputs

    def _update_generators(self, real_a, real_b, fake_a, fake_b, rec_b, rec_a) -> dict[str, float]:
        c = self.cfg
        set_requires_grad([self.nets["D_A"], self.nets["D_B"]], False)
        terms = {
            "G_A": self.gan_loss(self._judge(self.nets["D_A"], fake_b), True),
            "G_B": self.gan_loss(self._judge(self.nets["D_B"], fake_a), True),
            "cycle_A": self.l1(rec_a, real_a) * c.lambda_a,
            "cycle_B": self.l1(rec_b, real_b) * c.lambda_b,
        }
        if self.style_loss is not None:
            # Brushwork statistics of the paintings, independent of what the crops depict.
            terms["style_A"] = self.style_loss(fake_b, real_b) * c.lambda_style
        if c.lambda_tone > 0:
            terms["tone_A"] = tone_layout_loss(fake_b, real_a) * c.lambda_tone
        if c.lambda_colour > 0:
            terms["colour_A"] = colour_layout_loss(fake_b, real_a) * c.lambda_colour
        if c.lambda_identity > 0:
            # G_A fed a B image should leave it alone (and G_B an A image): keeps colours honest.
            terms["idt_A"] = self.l1(self.wrapped["G_A"](real_b), real_b) * c.lambda_b * c.lambda_identity
            terms["idt_B"] = self.l1(self.wrapped["G_B"](real_a), real_a) * c.lambda_a * c.lambda_identity
        self.optimizers["G"].zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        self.optimizers["G"].step()
        return {k: v.item() for k, v in terms.items()}

    def _update_discriminators(self, real_a, real_b, fake_a, fake_b, rng) -> dict[str, float]:
        set_requires_grad([self.nets["D_A"], self.nets["D_B"]], True)
        loss_a = self._discriminator_loss(self.wrapped["D_A"], real_b, self.pools["B"].query(fake_b, rng))
        loss_b = self._discriminator_loss(self.wrapped["D_B"], real_a, self.pools["A"].query(fake_a, rng))
        self.optimizers["D"].zero_grad(set_to_none=True)
        (loss_a + loss_b).backward()
        self.optimizers["D"].step()
        return {"D_A": loss_a.item(), "D_B": loss_b.item()}

    def _discriminator_loss(self, d, real, fake) -> torch.Tensor:
        return 0.5 * (self.gan_loss(self._judge(d, real), True) + self.gan_loss(self._judge(d, fake.detach()), False))

    def _judge(self, d, images: torch.Tensor):
        """The discriminator's verdict on ``images`` after this step's augmentation (if any)."""
        if self.augmentation:
            images = augment(images, self.augmentation, self._augment_rng)
        return d(images)

    def extra_state(self) -> dict:
        return {"pools": {k: p.images for k, p in self.pools.items()}}

    def load_extra_state(self, state: dict) -> None:
        for k, images in state.get("pools", {}).items():
            self.pools[k].images = [image.to(self.device) for image in images]

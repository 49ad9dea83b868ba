"""pix2pix (and distillation): conditional GAN on pairs, plus a weighted reconstruction loss.

The discriminator sees (input, output) pairs, as in the paper. Distillation is the same model on
teacher-made pairs; its batches carry the photo's context for compact generators that take one.
With ``lambda_gan`` = 0 there is no discriminator and training is plain regression.
"""

from __future__ import annotations

import torch

from trainer.losses import GANLoss, recon_loss
from trainer.models.base import GANModel, judged_without_side_effects, set_requires_grad


class Pix2PixModel(GANModel):
    """Generator G: A -> B; discriminator D on concatenated (A, B) pairs."""

    d_loss_names = ("D_real", "D_fake")
    g_adversarial_names = ("G_GAN",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.add_generator("G", seed_offset=0)
        self.add_optimizer("G", ["G"])
        self.adversarial = cfg.lambda_gan > 0
        if self.adversarial:
            self.add_discriminator("D", input_nc=6, seed_offset=1)
            self.add_optimizer("D", ["D"])
        self.gan_loss = GANLoss(cfg.gan_mode)
        self.recon = recon_loss(cfg.recon_loss)
        self.finish_setup()

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        real_a, real_b = batch["A"], batch["B"]
        fake_b = self.wrapped["G"](real_a, batch.get("context"))
        losses = {}
        if self.adversarial:
            losses.update(self._update_discriminator(real_a, real_b, fake_b))
        losses.update(self._update_generator(real_a, real_b, fake_b))
        self.last_visuals = [real_a.detach(), fake_b.detach(), real_b]
        self.last_pair = (real_a.detach(), fake_b.detach())
        return losses

    def critic_scores(self, real_a, fake_b):
        if not self.adversarial:
            return None
        return judged_without_side_effects(self.nets["D"], torch.cat([real_a, fake_b], 1))

    def _update_discriminator(self, real_a, real_b, fake_b) -> dict[str, float]:
        d = self.wrapped["D"]
        set_requires_grad([self.nets["D"]], True)
        loss_fake = self.gan_loss(d(torch.cat([real_a, fake_b.detach()], 1)), False)
        loss_real = self.gan_loss(d(torch.cat([real_a, real_b], 1)), True)
        loss = 0.5 * (loss_fake + loss_real)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["D"].step()
        return {"D_real": loss_real.item(), "D_fake": loss_fake.item()}

    def _update_generator(self, real_a, real_b, fake_b) -> dict[str, float]:
        terms = {"G_recon": self.recon(fake_b, real_b) * self.cfg.lambda_recon}
        if self.adversarial:
            # The plain module, not the DDP wrapper: D is frozen here and must not join a gradient sync.
            set_requires_grad([self.nets["D"]], False)
            pred = self.nets["D"](torch.cat([real_a, fake_b], 1))
            terms["G_GAN"] = self.gan_loss(pred, True) * self.cfg.lambda_gan
        perceptual = self.perceptual_term(fake_b, real_b)
        if perceptual is not None:
            terms["G_perceptual"] = perceptual
        terms.update(self.vgg_terms(fake_b, real_b))
        loss = sum(terms.values())
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["G"].step()
        return {k: v.item() for k, v in terms.items()}

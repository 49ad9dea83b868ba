"""The any-painting student: a style-code generator distilled from the arbitrary-style teacher.

One step: the generator paints the photo crop (with its halo) for the batch's context rows
(thumbnail statistics and style code, trainer/conditioned_data.py); the halo is cut off and the core
is compared with the teacher's served pixels by L1 (``lambda_recon``), by the VGG16 feature distance
and Gram texture term (``lambda_vgg``, ``lambda_gram``), by EfficientNet-Lite0 features
(``lambda_perceptual``), and judged by a projection PatchGAN conditioned on the photo and the code
(``lambda_gan``; trainer/projection_d.py).
"""

from __future__ import annotations

import torch

from trainer import networks
from trainer.code_generator import CODE_DIM
from trainer.compact import CONTEXT_DIM
from trainer.losses import GANLoss, recon_loss
from trainer.models.base import GANModel, set_requires_grad
from trainer.networks import _seeded
from trainer.projection_d import ProjectionPatchGAN


class ConditionedModel(GANModel):
    """Generator G (``compact_code``): (photo, context) -> painting; discriminator D: ProjectionPatchGAN."""

    d_loss_names = ("D_real", "D_fake")
    g_adversarial_names = ("G_GAN",)

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        args = networks.code_args(CODE_DIM, cfg.ngf, padding="replicate", border=cfg.border)
        self.net_args["G"] = args
        self.nets["G"] = networks.define_G(**args, seed=cfg.seed).to(self.device)
        self.add_optimizer("G", ["G"])
        self.adversarial = cfg.lambda_gan > 0
        if self.adversarial:
            d_args = {"code_dim": CODE_DIM, "ndf": cfg.ndf, "n_layers": cfg.n_layers_D}
            self.net_args["D"] = {"arch": "projection", **d_args}
            with _seeded(cfg.seed + 1):
                self.nets["D"] = ProjectionPatchGAN(**d_args).to(self.device)
            self.add_optimizer("D", ["D"])
        self.gan_loss = GANLoss(cfg.gan_mode)
        self.recon = recon_loss(cfg.recon_loss)
        self.finish_setup()

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        photo_halo, target, context = batch["A"], batch["B"], batch["context"]
        h = (photo_halo.shape[-1] - target.shape[-1]) // 2
        fake = _core(self.wrapped["G"](photo_halo, context), h)
        photo, code = _core(photo_halo, h), context[:, CONTEXT_DIM:]
        losses = {}
        if self.adversarial:
            losses.update(self._update_discriminator(photo, target, fake, code))
        losses.update(self._update_generator(photo, target, fake, code))
        self.last_visuals = [photo.detach(), fake.detach(), target]
        self.last_pair = (photo.detach(), fake.detach())
        self._last_code = code.detach()
        return losses

    def critic_scores(self, photo, fake):
        if not self.adversarial:
            return None
        d = self.nets["D"]
        was_training = d.training
        d.eval()
        with torch.no_grad():
            out = d(photo, fake, self._last_code)
        d.train(was_training)
        return out

    def _update_discriminator(self, photo, target, fake, code) -> dict[str, float]:
        d = self.wrapped["D"]
        set_requires_grad([self.nets["D"]], True)
        loss_fake = self.gan_loss(d(photo, fake.detach(), code), False)
        loss_real = self.gan_loss(d(photo, target, code), True)
        loss = 0.5 * (loss_fake + loss_real)
        self.optimizers["D"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["D"].step()
        return {"D_real": loss_real.item(), "D_fake": loss_fake.item()}

    def _update_generator(self, photo, target, fake, code) -> dict[str, float]:
        terms = {"G_recon": self.recon(fake, target) * self.cfg.lambda_recon}
        if self.adversarial:
            set_requires_grad([self.nets["D"]], False)
            terms["G_GAN"] = self.gan_loss(self.nets["D"](photo, fake, code), True) * self.cfg.lambda_gan
        perceptual = self.perceptual_term(fake, target)
        if perceptual is not None:
            terms["G_perceptual"] = perceptual
        terms.update(self.vgg_terms(fake, target))
        loss = sum(terms.values())
        self.optimizers["G"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["G"].step()
        return {k: v.item() for k, v in terms.items()}


def _core(images: torch.Tensor, halo: int) -> torch.Tensor:
    return images[..., halo:images.shape[-2] - halo, halo:images.shape[-1] - halo] if halo else images

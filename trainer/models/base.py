"""What every training kind shares: named networks, their optimizers and schedulers, and state.

A model declares its networks by name (``G``, ``D`` or ``G_A``, ``G_B``, ``D_A``, ``D_B``) and
implements ``train_step(batch, step) -> losses``. Saving and loading go by those names, so a checkpoint
describes itself: weights, the arguments that rebuild each network, optimizer and scheduler state.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from tessera.critic_maps import BLUE, RED, WHITE
from trainer import networks
from trainer.config import UNPAIRED_KINDS, TrainConfig
from trainer.distributed import DistContext
from trainer.losses import PerceptualLoss, VggLikenessLoss


def realism_column(scores, gan_mode: str, size) -> torch.Tensor:
    """A heat map [N, 3, H, W] in [-1, 1] of the discriminator's "real" verdict, as the served maps draw it
    (tessera.critic_maps: blue 0, white 1/2, red 1); several scales are averaged."""
    maps = scores if isinstance(scores, list) else [scores]
    probs = []
    with torch.no_grad():
        for m in maps:
            p = torch.sigmoid(m) if gan_mode == "vanilla" else m.clamp(0, 1)
            probs.append(nn.functional.interpolate(p.float().mean(1, keepdim=True), size=tuple(size),
                                                   mode="bilinear", align_corners=False))
    v = (sum(probs) / len(probs)).clamp(0, 1)
    blue, white, red = (torch.tensor(c, dtype=torch.float32).view(1, 3, 1, 1) / 127.5 - 1 for c in (BLUE, WHITE, RED))
    return torch.where(v < 0.5, blue + (white - blue) * (v * 2), white + (red - white) * (v * 2 - 1))


def judged_without_side_effects(net: nn.Module, x: torch.Tensor):
    """``net(x)`` in eval mode without gradients: batch-norm statistics stay as training left them."""
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = net(x)
    net.train(was_training)
    return out


def set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze parameters (the discriminators while the generators learn)."""
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class GANModel:
    """Base of the training kinds. Subclasses fill ``self.nets``/``self.net_args`` then call ``_setup``."""

    generator_name = "G"
    # Losses the watchdog reads (trainer/watchdog.py): the discriminators' and the generators' adversarial ones.
    d_loss_names: tuple[str, ...] = ()
    g_adversarial_names: tuple[str, ...] = ()

    def __init__(self, cfg: TrainConfig, ctx: DistContext):
        self.cfg, self.ctx, self.device = cfg, ctx, ctx.device
        self.nets: dict[str, nn.Module] = {}
        self.net_args: dict[str, dict] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.last_visuals: list[torch.Tensor] = []
        self.last_pair: tuple[torch.Tensor, torch.Tensor] | None = None  # (input, output) of the last step
        self.lr_scale = 1.0  # product of the watchdog's rollback factors
        self.perceptual = PerceptualLoss(self.device) if cfg.lambda_perceptual > 0 else None
        wants_vgg = cfg.kind not in UNPAIRED_KINDS and (cfg.lambda_vgg > 0 or cfg.lambda_gram > 0)
        self.vgg = VggLikenessLoss(self.device) if wants_vgg else None

    # -- construction -------------------------------------------------------------------------

    def add_generator(self, name: str, seed_offset: int, served: bool = True) -> None:
        """``served``: the direction that gets exported; only it ends in the Kuwahara filter, if any."""
        c = self.cfg
        args = networks.generator_args(c.netG, ngf=c.ngf, norm=c.norm, use_dropout=c.use_dropout,
                                       context_dim=networks.CONTEXT_DIM if c.context else 0,
                                       upsample=c.upsample if c.netG == "compact" else "shuffle",
                                       padding=c.padding, kuwahara_radius=c.kuwahara_radius if served else 0,
                                       border=c.border if served else 0)
        self.net_args[name] = args
        self.nets[name] = networks.define_G(**args, seed=c.seed + seed_offset).to(self.device)
        if served and c.init_onnx:
            from trainer.onnx_init import load_onnx_weights

            load_onnx_weights(self.nets[name], c.init_onnx)

    def add_discriminator(self, name: str, input_nc: int, seed_offset: int) -> None:
        c = self.cfg
        args = {"input_nc": input_nc, "ndf": c.ndf, "n_layers": c.n_layers_D, "norm": c.norm, "arch": c.netD}
        self.net_args[name] = args
        self.nets[name] = networks.define_D(**args, seed=c.seed + seed_offset).to(self.device)

    def add_optimizer(self, name: str, net_names: list[str]) -> None:
        params = [p for n in net_names for p in self.nets[n].parameters()]
        lr = self.cfg.lr_d if name == "D" and self.cfg.lr_d > 0 else self.cfg.lr
        self.optimizers[name] = torch.optim.Adam(params, lr=lr, betas=(self.cfg.beta1, self.cfg.beta2))

    def finish_setup(self) -> None:
        """Wrap networks for DDP and create one linear-decay scheduler per optimizer."""
        self.wrapped = {n: self.ctx.wrap(net) for n, net in self.nets.items()}
        self.schedulers = {n: networks.get_scheduler(o, self.cfg.steps, self.cfg.lr_decay_start)
                           for n, o in self.optimizers.items()}

    # -- training -----------------------------------------------------------------------------

    def train_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        """One optimisation step on ``batch`` (the ``step``-th); returns the losses by name."""
        raise NotImplementedError

    def step_schedulers(self) -> None:
        for s in self.schedulers.values():
            s.step()

    def scale_lr(self, factor: float) -> None:
        """Multiply every learning rate, now and in the schedules, by ``factor`` (a watchdog rollback)."""
        self.lr_scale *= factor
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] *= factor
            self.schedulers[name].base_lrs = [lr * factor for lr in self.schedulers[name].base_lrs]

    def generate(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The A->B generator's output for ``batch`` as training sees it (batch-norm on batch statistics: early
        in a run the running statistics make every output alike), on a copy, so no state changes."""
        net = copy.deepcopy(self.generator).train()
        with torch.no_grad():
            return net(batch["A"], batch.get("context"))

    def critic_scores(self, real_a: torch.Tensor, fake_b: torch.Tensor):
        """The discriminator's verdict on ``fake_b`` (a tensor or a list of scales), or None without one."""
        return None

    def sample_visuals(self) -> list[torch.Tensor]:
        """input | output | target columns of the last step, and the realism map of the output beside them."""
        if self.last_pair is None:
            return self.last_visuals
        scores = self.critic_scores(*self.last_pair)
        if scores is None:
            return self.last_visuals
        return [*self.last_visuals, realism_column(scores, self.cfg.gan_mode, self.last_pair[1].shape[2:])]

    @property
    def generator(self) -> nn.Module:
        """The A->B generator (unwrapped)."""
        return self.nets[self.generator_name]

    def perceptual_term(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        if self.perceptual is None:
            return None
        return self.perceptual(output, target) * self.cfg.lambda_perceptual

    def vgg_terms(self, output: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """The weighted VGG16 likeness terms (feature distance, Gram) that the config switches on."""
        if self.vgg is None:
            return {}
        distance, texture = self.vgg(output, target)
        terms = {}
        if self.cfg.lambda_vgg > 0:
            terms["G_vgg"] = distance * self.cfg.lambda_vgg
        if self.cfg.lambda_gram > 0:
            terms["G_gram"] = texture * self.cfg.lambda_gram
        return terms

    # -- state --------------------------------------------------------------------------------

    def extra_state(self) -> dict:
        """Model-specific state beyond weights and optimizers (e.g. CycleGAN's image pools)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {
            "nets": {n: net.state_dict() for n, net in self.nets.items()},
            "net_args": self.net_args,
            "generator": self.generator_name,
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "lr_scale": self.lr_scale,
            "schedulers": {n: s.state_dict() for n, s in self.schedulers.items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        for n, net in self.nets.items():
            net.load_state_dict(state["nets"][n])
        for n, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][n])
        for n, s in self.schedulers.items():
            s.load_state_dict(state["schedulers"][n])
        self.lr_scale = state.get("lr_scale", 1.0)
        self.load_extra_state(state.get("extra", {}))

"""Generators, the PatchGAN discriminator and their factories.

Factories come first (``define_G``, ``define_D``, ``get_scheduler``), the modules after them.
The ResNet and U-Net generators and the N-layer discriminator keep the parameter names
(state_dict keys) of the junyanz/pytorch-CycleGAN-and-pix2pix project, so that project's
``latest_net_G.pth`` files load into them unchanged: ``model.N...`` for ResnetGenerator,
``model.model.1.model.3...`` (nested UnetSkipConnectionBlock) for UnetGenerator, ``model.N...``
for NLayerDiscriminator. The compact serving generator lives in ``trainer.compact``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from trainer.compact import CONTEXT_DIM, CompactGenerator, image_context  # noqa: F401  (re-exported)
from trainer.flops import count_gflops  # noqa: F401  (re-exported)

GENERATOR_ARCHS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks", "compact", "compact_code",
                   "cin_student", "cin_code")
NORMS = ("batch", "instance", "none")
DISCRIMINATOR_ARCHS = ("patch", "projected")
# Stem width of the compact serving generator (about 1.5 GFLOPs per 256x256 tile).
COMPACT_NGF = 16


# --------------------------------------------------------------------------- factories


def get_norm_layer(norm: str) -> Callable[[int], nn.Module]:
    """A constructor for the named normalisation, configured as the CycleGAN project does.

    Instance norm has no affine parameters and no running statistics, batch norm has both, so
    the state dict keys match that project's checkpoints.
    """
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda _channels: nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")


def code_args(code_dim: int, ngf: int = 0, padding: str = "replicate", border: int = 0) -> dict:
    """What rebuilds a style-code student (``compact_code``) with ``define_G(**args)``; saved in checkpoints."""
    return {"arch": "compact_code", "code_dim": code_dim, "ngf": ngf or COMPACT_NGF, "padding": padding,
            "border": border}


def generator_args(arch: str, input_nc: int = 3, output_nc: int = 3, ngf: int = 0, norm: str = "batch",
                   use_dropout: bool = False, context_dim: int = 0, upsample: str = "shuffle",
                   padding: str = "zeros", kuwahara_radius: int = 0, border: int = 0) -> dict:
    """The keyword arguments that rebuild a generator with ``define_G(**args)``; saved in checkpoints.

    ``ngf`` = 0 picks the architecture's default width: 64 as in the CycleGAN project, 16 for compact.
    ``context_dim``, ``upsample``, ``padding``, ``kuwahara_radius`` and ``border`` belong to the compact
    generator only; ``border`` is recorded only when set, so older checkpoints rebuild unchanged.
    """
    ngf = ngf or (COMPACT_NGF if arch == "compact" else 64)
    args = {"arch": arch, "input_nc": input_nc, "output_nc": output_nc, "ngf": ngf, "norm": norm,
            "use_dropout": use_dropout, "context_dim": context_dim}
    if arch == "compact":
        args["upsample"] = upsample
        args["padding"] = padding
        args["kuwahara_radius"] = kuwahara_radius
        if border:
            args["border"] = border
    return args


def define_G(arch: str, input_nc: int = 3, output_nc: int = 3, ngf: int = 0, norm: str = "batch",
             use_dropout: bool = False, context_dim: int = 0, upsample: str = "shuffle", padding: str = "zeros",
             kuwahara_radius: int = 0, border: int = 0, init_gain: float = 0.02,
             seed: int | None = None, code_dim: int = 0, n_blocks: int = 0, stem: int = 0,
             layout: str = "multistyle26") -> nn.Module:
    """Build a generator by architecture name, initialised as the CycleGAN project does (compact: He).

    ``ngf`` = 0 is the architecture's default width. ``context_dim`` applies to ``compact`` only
    (0 = no context input). ``compact_code`` is the style-code student (trainer.code_generator),
    rebuilt from ``code_args``; ``layout`` applies to ``cin_code`` only
    (trainer.cin_code_student.LAYOUTS). With ``seed`` the weights are reproducible and the global RNG is untouched.
    """
    if arch not in GENERATOR_ARCHS:
        raise ValueError(f"unknown generator {arch!r}; choose one of {', '.join(GENERATOR_ARCHS)}")
    if arch == "cin_student":
        # Built from its teacher's weights by trainer.cin_distill; here only its shape (checkpoints load it).
        from trainer.cin_student import TEACHER_BLOCKS, TEACHER_WIDTH, CinStudent

        return CinStudent(ngf or TEACHER_WIDTH, n_blocks or TEACHER_BLOCKS, stem)
    if arch == "cin_code":
        # Built from its starting weights by trainer.cin_code_distill; here only its shape.
        from trainer.cin_code_student import CodeCinStudent

        return CodeCinStudent(code_dim, ngf or 32, n_blocks or 5, stem, layout=layout)
    if arch == "compact_code":
        from trainer.code_generator import CodeGenerator

        with _seeded(seed):
            net = CodeGenerator(code_dim=code_dim, ngf=ngf or COMPACT_NGF, padding=padding, border=border)
            net.reset_parameters()
        return net
    if arch != "compact" and (context_dim or upsample != "shuffle" or padding != "zeros" or kuwahara_radius
                              or border):
        raise ValueError(f"only the compact generator takes a context input, an upsample mode, a padding or a "
                         f"Kuwahara filter, not {arch}")
    args = generator_args(arch, input_nc, output_nc, ngf, norm, use_dropout, context_dim, upsample, padding,
                          kuwahara_radius, border)
    with _seeded(seed):
        if arch == "compact":
            net = CompactGenerator(input_nc, output_nc, ngf=args["ngf"], context_dim=context_dim,
                                   upsample=upsample, padding=padding, kuwahara_radius=kuwahara_radius,
                                   border=border)
            net.reset_parameters()
            return net
        norm_layer = get_norm_layer(norm)
        if arch.startswith("resnet_"):
            n_blocks = 9 if arch == "resnet_9blocks" else 6
            net = ResnetGenerator(input_nc, output_nc, args["ngf"], norm_layer, use_dropout, n_blocks)
        else:
            num_downs = 8 if arch == "unet_256" else 7
            net = UnetGenerator(input_nc, output_nc, num_downs, args["ngf"], norm_layer, use_dropout)
        init_weights(net, init_gain)
    return net


def define_D(input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch", init_gain: float = 0.02,
             seed: int | None = None, arch: str = "patch") -> nn.Module:
    """The PatchGAN discriminator (``n_layers=3`` is the pix2pix paper's 70x70 one), or with
    ``arch="projected"`` heads on frozen EfficientNet-Lite0 features (RGB input only)."""
    if arch not in DISCRIMINATOR_ARCHS:
        raise ValueError(f"unknown discriminator {arch!r}; choose one of {', '.join(DISCRIMINATOR_ARCHS)}")
    with _seeded(seed):
        if arch == "projected":
            if input_nc != 3:
                raise ValueError("the projected discriminator judges RGB images (input_nc 3), not pairs")
            from trainer.projected_d import ProjectedDiscriminator

            return ProjectedDiscriminator(ndf)  # spectral-normalised heads keep PyTorch's initialisation
        net = NLayerDiscriminator(input_nc, ndf, n_layers, get_norm_layer(norm))
        init_weights(net, init_gain)
    return net


def get_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, decay_start: int) -> LambdaLR:
    """Constant learning rate until ``decay_start``, then linear decay towards zero at ``total_steps``.

    This is the CycleGAN project's "linear" policy counted in steps instead of epochs; call
    ``step()`` once per training step.
    """
    decay_steps = max(1, total_steps - decay_start)

    def factor(step: int) -> float:
        return 1.0 - max(0, step - decay_start) / float(decay_steps + 1)

    return LambdaLR(optimizer, factor)


def init_weights(net: nn.Module, gain: float = 0.02) -> None:
    """Normal(0, gain) for convolutions and linear layers, Normal(1, gain) for batch-norm scales."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)


class _seeded:
    """Context manager: run with the global torch RNG seeded, then restore its previous state."""

    def __init__(self, seed: int | None):
        self.seed = seed

    def __enter__(self):
        if self.seed is not None:
            self.state = torch.random.get_rng_state()
            torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        if self.seed is not None:
            torch.random.set_rng_state(self.state)


def _uses_bias(norm_layer: Callable[[int], nn.Module]) -> bool:
    # Batch norm has its own shift, so the preceding convolution needs no bias (CycleGAN convention).
    return not (isinstance(norm_layer, functools.partial) and norm_layer.func is nn.BatchNorm2d)


# --------------------------------------------------------------------------- modules


class ResnetGenerator(nn.Module):
    """Two stride-2 downsamplings, ``n_blocks`` residual blocks, two transposed-conv upsamplings."""

    size_multiple = 4

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, norm_layer=nn.BatchNorm2d,
                 use_dropout: bool = False, n_blocks: int = 6):
        super().__init__()
        bias = _uses_bias(norm_layer)
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=bias),
                                   norm_layer(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2**i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm_layer, use_dropout, bias) for _ in range(n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                          output_padding=1, bias=bias),
                       norm_layer(ngf * mult // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(image)


class ResnetBlock(nn.Module):
    """x + (pad, conv3x3, norm, relu, [dropout], pad, conv3x3, norm)(x)."""

    def __init__(self, dim: int, norm_layer, use_dropout: bool, use_bias: bool):
        super().__init__()
        block: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias),
                                  norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            block.append(nn.Dropout(0.5))
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class UnetGenerator(nn.Module):
    """U-Net with ``num_downs`` stride-2 levels (8 for 256x256 inputs, 7 for 128x128)."""

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64,
                 norm_layer=nn.BatchNorm2d, use_dropout: bool = False):
        super().__init__()
        self.size_multiple = 2**num_downs
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer,
                                            use_dropout=use_dropout)
        for mult in (4, 2, 1):
            block = UnetSkipConnectionBlock(ngf * mult, ngf * mult * 2, submodule=block,
                                            norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True, norm_layer=norm_layer)

    def forward(self, image: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(image)


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down, the inner levels, up, and (except outermost) concat with the input."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False, innermost: bool = False,
                 norm_layer=nn.BatchNorm2d, use_dropout: bool = False):
        super().__init__()
        self.outermost = outermost
        bias = _uses_bias(norm_layer)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=bias)
        downrelu, uprelu = nn.LeakyReLU(0.2, True), nn.ReLU(True)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            layers = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, uprelu, upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule,
                      uprelu, upconv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each seeing a 70x70 patch when ``n_layers=3``."""

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        bias = _uses_bias(norm_layer)
        seq: list[nn.Module] = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < n_layers else 1
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=stride, padding=1, bias=bias),
                    norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq.append(nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*seq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

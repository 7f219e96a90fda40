"""Integer-only inference (Jacob et al. 2018, CVPR): every Linear and Conv in integers, floats only at the two ends.

A real number r is stored as a code q on an affine grid, r = scale * (q - zero_point). With the input on grid x,
symmetric int8 weights (zero point 0) on grid w and the output on grid y, a layer y = x @ w + b becomes

    acc = sum_k (qx_k - zx) * qw_k + qb      an int32: 8-bit x 8-bit products summed over K inputs
    qy  = zy + round(M * acc), saturated     M = sx * sw / sy, the only real number left; qb = round(b / (sx * sw))

``requantize`` applies M as ONNX Runtime does (one float32 multiply, round half to even); ``fixed_point`` and
``requantize_fixed`` show the paper's integer form, M = M0 * 2**-n with M0 a 31-bit integer. ``qlinear_matmul`` and
``qlinear_conv`` are ONNX's QLinearMatMul and QLinearConv, bit for bit with ONNX Runtime (tests/test_intonly.py).

``integer_only(model, IntOnlyConfig(...), task=task)`` turns a Sequential of Linear, Conv2d, ReLU, MaxPool2d,
Flatten and Dropout layers into an ``IntegerModel``: the input is quantized once, every layer runs on codes (a ReLU
is the saturation at the zero point), and only the output is turned back into floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightlab.data.tasks import Task
from lightlab.measurement import stats
from lightlab.measurement.metrics import confusion, predictions, score
from lightlab.measurement.report import Report
from lightlab.techniques.calibrate import METHODS, PERCENTILE, activation_range, observe
from lightlab.techniques.int8 import calibration_inputs

INT32 = (-(2**31), 2**31 - 1)
WEIGHT_CODES = (-127, 127)  # symmetric int8 weights as ONNX Runtime stores them: -128 would have no +128 partner


@dataclass(frozen=True)
class QParams:
    """Where a tensor's codes sit: real = scale * (q - zero_point); one scale per tensor or per output channel."""

    scale: torch.Tensor  # float32, 0-dim or one per channel
    zero_point: torch.Tensor  # int64, same shape as scale
    dtype: torch.dtype = torch.uint8  # how the codes are stored
    bits: int = 8  # codes used: 0 .. 2**bits - 1 (uint8) or -2**(bits-1) .. 2**(bits-1) - 1 (int8)

    @property
    def codes(self) -> tuple[int, int]:
        """Return the smallest and largest code."""
        if self.dtype == torch.uint8:
            return 0, 2**self.bits - 1
        return -(2 ** (self.bits - 1)), 2 ** (self.bits - 1) - 1


def qparams(scale, zero_point=0, dtype: torch.dtype = torch.uint8, bits: int = 8) -> QParams:
    """Return QParams from numbers or tensors: the scale as float32, the zero point as int64."""
    if dtype not in (torch.uint8, torch.int8) or not 2 <= bits <= 8:
        raise ValueError(f"codes are torch.uint8 or torch.int8 with 2 to 8 bits, got {dtype} with {bits} bits")
    scale = torch.as_tensor(scale, dtype=torch.float32)
    if not (scale > 0).all():
        raise ValueError(f"every scale must be > 0, got {scale.tolist()}")
    zero_point = torch.as_tensor(zero_point, dtype=torch.int64).expand(scale.shape).clone()
    return QParams(scale, zero_point, dtype, bits)


def affine_qparams(lo: float, hi: float, dtype: torch.dtype = torch.uint8, bits: int = 8) -> QParams:
    """Return the asymmetric grid covering [lo, hi], widened to hold 0.0 so that zero is exactly a code."""
    qmin, qmax = QParams(torch.tensor(1.0), torch.tensor(0), dtype, bits).codes
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)  # ReLU's zeros and zero padding must be exact
    scale = float(torch.tensor((hi - lo) / (qmax - qmin) if hi > lo else 1.0, dtype=torch.float32))
    zero_point = min(max(round(qmin - lo / scale), qmin), qmax)  # round() is half to even, as ONNX Runtime's
    return qparams(scale, zero_point, dtype, bits)


def weight_qparams(w: torch.Tensor, per_channel: bool = True) -> QParams:
    """Return a symmetric int8 grid for ``w`` (zero point 0, codes -127..127), one scale per output channel or one."""
    top = w.detach().abs().flatten(1).amax(1) if per_channel else w.detach().abs().max()
    return qparams(torch.where(top > 0, top / WEIGHT_CODES[1], 1.0), 0, torch.int8)


def _channels(t: torch.Tensor, dims: int) -> torch.Tensor:
    """Return a per-channel tensor shaped to broadcast over dimension 1 of a ``dims``-d tensor (0-dim: as is)."""
    return t.view(-1, *([1] * (dims - 2))) if t.dim() else t


def quantize(x: torch.Tensor, p: QParams, axis: int | None = None) -> torch.Tensor:
    """Return the codes of ``x``: round(x / scale) + zero_point, saturated (ONNX QuantizeLinear, bit for bit).

    ``axis``: the channel dimension when ``p`` has one scale per channel."""
    scale, zero_point = p.scale, p.zero_point
    if axis is not None and scale.dim():
        shape = [1] * x.dim()
        shape[axis] = -1
        scale, zero_point = scale.view(shape), zero_point.view(shape)
    # A float32 division then round half to even: what ONNX Runtime computes (x * (1/scale) differs in 2 % of codes).
    q = torch.round(x.to(torch.float32) / scale) + zero_point
    return q.clamp(*p.codes).to(p.dtype)


def dequantize(q: torch.Tensor, p: QParams) -> torch.Tensor:
    """Return the real values the codes ``q`` stand for: scale * (q - zero_point)."""
    return (q.to(torch.int64) - _channels(p.zero_point, q.dim())) * _channels(p.scale, q.dim())


def multiplier(x: QParams, w: QParams, y: QParams) -> torch.Tensor:
    """Return M = sx * sw / sy in float32, in ONNX Runtime's order ((sx * sw) / sy: other orders differ by an ulp)."""
    return (x.scale * w.scale) / y.scale


def check_int32(acc: torch.Tensor) -> torch.Tensor:
    """Return ``acc`` if every value fits an int32 accumulator, else raise OverflowError saying by how much."""
    top, low = int(acc.max()), int(acc.min())
    if top > INT32[1] or low < INT32[0]:
        raise OverflowError(
            f"the int32 accumulator overflows: values reach [{low:,}, {top:,}], beyond +-2**31. Each output sums "
            "K products of at most 255 x 127: split the reduction (K) or use 16-bit accumulation with care"
        )
    return acc


def requantize(acc: torch.Tensor, m: torch.Tensor, y: QParams) -> torch.Tensor:
    """Return int32 accumulators as codes on grid ``y``: round(acc * M) + zero_point, saturated.

    ONNX Runtime's rule (MlasRequantizeOutput), found by experiment (tests/test_intonly.py): the int32 becomes a
    float32 (exact below 2**24), times the float32 M, rounded half to even; then the zero point, then saturation.
    """
    check_int32(acc)
    real = acc.to(torch.int32).to(torch.float32) * m
    return (torch.round(real) + y.zero_point).clamp(*y.codes).to(y.dtype)


def fixed_point(m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (m0, n), int64: M = m0 * 2**-(31 + n), m0 in [2**30, 2**31): the paper's M = 2**-n M0, M0 in [0.5, 1)."""
    mantissa, exponent = torch.frexp(torch.as_tensor(m, dtype=torch.float64))  # M = mantissa * 2**exponent
    m0 = torch.round(mantissa * 2**31).to(torch.int64)
    carry = m0 == 2**31  # the mantissa rounded up to 1.0: halve it, one more power of two
    return torch.where(carry, m0 // 2, m0), -(exponent.to(torch.int64) + carry.to(torch.int64))


def requantize_fixed(acc: torch.Tensor, m0: torch.Tensor, n: torch.Tensor, y: QParams) -> torch.Tensor:
    """Return ``acc`` requantized with integer arithmetic only: an int32 x int32 product, its high 32 bits, a shift.

    The two roundings are gemmlowp's (TensorFlow Lite): SaturatingRoundingDoublingHighMul, then
    RoundingDivideByPOT, both to nearest with ties away from zero, so a code can differ by one from ``requantize``.
    """
    acc = check_int32(acc).to(torch.int64)
    left, right = (-n).clamp(min=0), n.clamp(min=0)  # M >= 1 (n < 0) scales up before the multiply
    product = (acc << left) * m0  # < 2**62: an int64 holds the int32 x int32 product exactly
    nudge = torch.where(product >= 0, 2**30, 1 - 2**30)
    high = torch.div(product + nudge, 2**31, rounding_mode="trunc")  # round(acc * m0 / 2**31)
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (high < 0).to(torch.int64)
    shifted = (high >> right) + ((high & mask) > threshold).to(torch.int64)  # round(high / 2**n)
    return (shifted + y.zero_point).clamp(*y.codes).to(y.dtype)


def _codes(t: torch.Tensor, what: str) -> torch.Tensor:
    if t.is_floating_point():
        raise ValueError(f"{what} must hold integer codes, got {t.dtype}: call quantize(x, qparams) first")
    return t.to(torch.int64)  # int64 holds what the int32 accumulator would; check_int32 makes sure it would fit


def matmul_accumulators(
    a: torch.Tensor, a_p: QParams, b: torch.Tensor, b_p: QParams, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Return the int32 accumulators (held in int64, checked) of (a - za) @ (b - zb) + bias."""
    acc = (_codes(a, "a") - a_p.zero_point) @ (_codes(b, "b") - b_p.zero_point)
    return check_int32(acc if bias is None else acc + bias.to(torch.int64))


def conv_accumulators(
    x: torch.Tensor,
    x_p: QParams,
    w: torch.Tensor,
    w_p: QParams,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """Return the int32 accumulators (held in int64, checked) of conv2d(x - zx, w - zw) + bias, as a matmul."""
    n, (out_c, in_per_group, kh, kw) = x.shape[0], w.shape
    # Subtract the zero point, then pad with 0: padding stands for the real value 0.0, which is code zx, not 0.
    xi = F.pad(_codes(x, "x") - x_p.zero_point, (padding,) * 4)
    wi = _codes(w, "w") - _channels(w_p.zero_point, 5)  # one zero point per output channel: dimension 0
    patches = xi.unfold(2, kh, stride).unfold(3, kw, stride)  # (n, c, oh, ow, kh, kw): each output's inputs
    oh, ow = patches.shape[2:4]
    patches = patches.reshape(n, groups, in_per_group, oh, ow, kh * kw).permute(0, 1, 3, 4, 2, 5)
    patches = patches.reshape(n, groups, oh * ow, in_per_group * kh * kw)
    acc = patches @ wi.reshape(groups, out_c // groups, -1).transpose(1, 2)  # (n, groups, oh*ow, out_c / groups)
    acc = acc.permute(0, 1, 3, 2).reshape(n, out_c, oh, ow)
    return check_int32(acc if bias is None else acc + bias.to(torch.int64).view(1, -1, 1, 1))


def qlinear_matmul(
    a: torch.Tensor, a_p: QParams, b: torch.Tensor, b_p: QParams, y_p: QParams, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Return the codes of a @ b (+ bias) on grid ``y_p`` from integer codes only: ONNX QLinearMatMul.

    ``b_p`` may hold one scale per column of ``b``; ``bias`` (optional, not in ONNX's op) is int32 on grid
    a_scale * b_scale with zero point 0, added to the accumulator as QLinearConv's bias is."""
    return requantize(matmul_accumulators(a, a_p, b, b_p, bias), multiplier(a_p, b_p, y_p), y_p)


def qlinear_conv(
    x: torch.Tensor,
    x_p: QParams,
    w: torch.Tensor,
    w_p: QParams,
    y_p: QParams,
    bias: torch.Tensor | None = None,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """Return the codes of conv2d(x, w) (+ bias) on grid ``y_p`` from integer codes only: ONNX QLinearConv."""
    acc = conv_accumulators(x, x_p, w, w_p, bias, stride, padding, groups)
    return requantize(acc, _channels(multiplier(x_p, w_p, y_p), 4), y_p)


class QLayer(nn.Module):
    """A Linear or Conv2d (with the ReLU after it, if any) stored as int8 weights and int32 bias, run on codes."""

    def __init__(self, layer: nn.Linear | nn.Conv2d, x_p: QParams, y_p: QParams, per_channel: bool, fixed: bool):
        super().__init__()
        w_p = weight_qparams(layer.weight, per_channel)
        self.x_p, self.w_p, self.y_p, self.fixed = x_p, w_p, y_p, fixed
        # Parameters that hold integers (no gradient): counted by ll.measure, written by torch.save.
        self.weight = nn.Parameter(quantize(layer.weight.detach(), w_p, axis=0), requires_grad=False)
        bias = layer.bias.detach() if layer.bias is not None else torch.zeros(layer.weight.shape[0])
        # The bias lives on the accumulator's grid: scale sx * sw, zero point 0, int32 (so it adds exactly).
        self.bias = nn.Parameter(torch.round(bias / (x_p.scale * w_p.scale)).to(torch.int32), requires_grad=False)
        self.conv = isinstance(layer, nn.Conv2d)
        self.args = (layer.stride[0], layer.padding[0], layer.groups) if self.conv else ()

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """Return the layer's output codes (on ``y_p``) for input codes ``q`` (on ``x_p``)."""
        if self.conv:
            acc = conv_accumulators(q, self.x_p, self.weight, self.w_p, self.bias, *self.args)
        else:
            acc = matmul_accumulators(q, self.x_p, self.weight.T, self.w_p, self.bias)
        m = _channels(multiplier(self.x_p, self.w_p, self.y_p), acc.dim())
        if self.fixed:  # the paper's integer multiply and shift instead of ONNX Runtime's float32 multiply
            return requantize_fixed(acc, *fixed_point(m), self.y_p)
        return requantize(acc, m, self.y_p)


class CodeReLU(nn.Module):
    """A ReLU on codes: real 0.0 is code zero_point, so ReLU keeps the codes at or above it."""

    def __init__(self, p: QParams):
        super().__init__()
        self.p = p

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return torch.maximum(q, self.p.zero_point.to(q.dtype))


class IntegerModel(nn.Module):
    """A model run on integer codes: ``forward`` quantizes the input once and dequantizes the output once."""

    def __init__(self, layers: list[nn.Module], input_p: QParams, output_p: QParams):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.input_p, self.output_p = input_p, output_p
        self.precision = "int8"

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Return the output codes for real inputs ``x`` (every step between the two ends on integers)."""
        q = quantize(x, self.input_p)
        for layer in self.layers:
            q = layer(q)
        return q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the real outputs: the output codes dequantized."""
        return dequantize(self.codes(x), self.output_p)


SUPPORTED = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)


@dataclass(frozen=True)
class IntOnlyConfig:
    """How to build an integer-only model: activation calibration, activation bits, weight grid, multiplier form."""

    calibration: str = "minmax"  # "minmax", "percentile" or "entropy": how each activation's range is chosen
    percentile: float = PERCENTILE  # for "percentile": the share of values kept inside the range
    bits: int = 8  # activation codes 0 .. 2**bits - 1 (stored as uint8); weights stay int8
    per_channel: bool = True  # one weight scale per output channel (else one per layer)
    fixed_point: bool = False  # requantize with the paper's integer multiplier (else float32, as ONNX Runtime)
    calibration_size: int = 320  # training inputs the ranges are read from

    def __post_init__(self) -> None:
        if self.calibration not in METHODS:
            raise ValueError(f"calibration must be one of {', '.join(METHODS)}, got {self.calibration!r}")
        if not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be a whole number from 2 to 8 (the codes live in a uint8), got {self.bits}")
        if not 50 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (50, 100], such as 99.99, got {self.percentile}")
        if self.calibration_size < 1:
            raise ValueError(f"calibration_size must be >= 1, got {self.calibration_size}")

    def range_of(self, values: torch.Tensor) -> tuple[float, float]:
        """Return the calibrated (lo, hi) of one activation's observed ``values``."""
        options = {"percentile": {"percent": self.percentile}, "entropy": {"bits": self.bits}}
        return activation_range(values, self.calibration, **options.get(self.calibration, {}))


def _plan(model: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """Return the layers as (name of the output to calibrate, modules), each Linear/Conv with the ReLU after it."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"integer_only takes an nn.Sequential, got {type(model).__name__}: for other models use "
            "ll.quantize.quantize(model, QuantConfig(backend='onnxruntime'), task=task)"
        )
    bad = [f"{name!r} ({type(m).__name__})" for name, m in model.named_children() if not isinstance(m, SUPPORTED)]
    plain = ((1, 1), "zeros", 1, 1)  # no dilation, zero padding, stride and padding equal in height and width
    bad += [  # a padding string such as "same" has several letters, so it is refused here too
        f"{name!r} (dilation, padding mode, or stride/padding unequal in height and width)"
        for name, m in model.named_children()
        if isinstance(m, nn.Conv2d) and (m.dilation, m.padding_mode, len({*m.stride}), len({*m.padding})) != plain
    ]
    if bad:
        raise ValueError(
            f"integer_only cannot run layer(s) {', '.join(bad)} on integers: it handles "
            f"{', '.join(t.__name__ for t in SUPPORTED)}; use the onnxruntime backend for the rest"
        )
    plan: list[tuple[str, list[nn.Module]]] = []
    for name, m in model.named_children():
        if isinstance(m, nn.ReLU) and plan and isinstance(plan[-1][1][-1], (nn.Linear, nn.Conv2d)):
            plan[-1] = (name, [*plan[-1][1], m])  # fused: the output grid starts at 0, saturation is the ReLU
        else:
            plan.append((name, [m]))
    return plan


def integer_only(
    model: nn.Module, cfg: IntOnlyConfig | None = None, *, task: Task | None = None, example: torch.Tensor | None = None
) -> IntegerModel:
    """Return ``model`` as an IntegerModel, its activation grids calibrated on ``task``'s train split or ``example``."""
    cfg = cfg or IntOnlyConfig()
    plan = _plan(model)
    inputs = calibration_inputs(task if task is not None else example, cfg.calibration_size)
    weighted = [name for name, mods in plan if isinstance(mods[0], (nn.Linear, nn.Conv2d))]
    if not weighted:
        raise ValueError("the model has no Linear or Conv2d layer: there is nothing to run on integers")
    seen = observe(model, inputs, ["", *weighted])
    grid = {name: affine_qparams(*cfg.range_of(values), bits=cfg.bits) for name, values in seen.items()}
    layers, current = [], grid[""]
    for name, mods in plan:
        if isinstance(mods[0], (nn.Linear, nn.Conv2d)):
            layers.append(QLayer(mods[0], current, grid[name], cfg.per_channel, cfg.fixed_point))
            current = grid[name]
        elif isinstance(mods[0], nn.ReLU):
            layers.append(CodeReLU(current))
        elif not isinstance(mods[0], (nn.Dropout, nn.Identity)):  # max pooling and flattening work on codes as is
            layers.append(mods[0])
    return IntegerModel(layers, grid[""], current)


def compare_calibrations(
    model: nn.Module,
    task: Task,
    methods: tuple[str, ...] = tuple(METHODS),
    *,
    bits: int = 8,
    calibration_size: int = 320,
    percentile: float = PERCENTILE,
) -> Report:
    """Return the test scores of ``model`` in float32 and integer-only with each calibration method, and each input
    grid's step; each method's row notes the paired test (``ll.stats.compare``) against the first method."""
    report = Report()
    method = f"test split, {task.sizes()['test']} samples of {task.name!r}"
    y, pred = predictions(model, task.loader("test", batch_size=1024))
    metrics = list(dict.fromkeys([task.metric, "accuracy"]))
    for metric in metrics:
        report.add("float32", metric, 100 * score(metric, confusion(y, pred, task.num_classes)), "%", method)
    first = None
    for name in methods:
        cfg = IntOnlyConfig(calibration=name, bits=bits, calibration_size=calibration_size, percentile=percentile)
        int_model = integer_only(model, cfg, task=task)
        label = f"int{bits} {name}" + (f" {percentile:g} %" if name == "percentile" else "")
        _, pred = predictions(int_model, task.loader("test", batch_size=1024))
        first = first or (label, pred)
        for metric in metrics:
            note = None
            if metric == task.metric and label != first[0]:
                note = stats.compare(y, pred, first[1], names=(label, first[0]), metric=metric).verdict
            value = 100 * score(metric, confusion(y, pred, task.num_classes))
            report.add(label, metric, value, "%", f"{method}; {calibration_size} calibration inputs", note=note)
        step = f"scale of the input grid: real units per code, from the calibrated range of {calibration_size} inputs"
        report.add(label, "input_step", float(int_model.input_p.scale), "units/code", step)
    return report

"""Quantization: store weights with fewer bits.

Teaching quantizers you can read in one sitting (k-bit linear with a visible ``scale`` and ``zero_point``,
k-means weight sharing as in Deep Compression), quantization-aware training with a straight-through estimator,
and one verb for everything: ``quantize(model, QuantConfig(backend=..., bits=...))``.

``backend="fake"`` rounds the weights to the k-bit grid but keeps them as float32: the model shows the
*accuracy* of k bits, but it is NOT smaller or faster. Real int8 that is smaller and faster comes from
``backend="onnxruntime"`` or ``"torchao"`` (see ``lightlab.techniques.int8``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader

from lightlab.config import pick
from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import Explorer
from lightlab.measurement.measure import environment
from lightlab.measurement.report import Report
from lightlab.models.onnx import OnnxModel
from lightlab.techniques.int8 import benchmark, compare_backends, onnxruntime_int8, speedup_outlook, torchao_int8
from lightlab.techniques.train import evaluate, fit

BACKENDS = ("fake", "onnxruntime", "torchao")
SCHEMES = ("symmetric", "asymmetric", "kmeans")
MODES = ("auto", "static", "dynamic")
QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
# The real int8 backends live in lightlab/int8.py; these are the names learners call as ll.quantize.NAME.
__all__ = [
    "QuantConfig",
    "QuantExplorer",
    "OnnxModel",
    "benchmark",
    "compare_backends",
    "dequantize",
    "fake_quantize",
    "kmeans_quantize",
    "linear_quantize",
    "plot_grid",
    "plot_sweep",
    "ptq_vs_qat",
    "qat",
    "quantize",
    "quantize_weight",
    "quantizable_layers",
    "speedup_outlook",
    "sweep",
]


def _check_bits(bits: int) -> int:
    """Return ``bits`` if it is an integer from 1 to 16, else raise saying why."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(
            f"bits must be an integer from 1 to 16, got {bits!r}: 8 is the usual int8, "
            "4 and 2 show where accuracy breaks, 1 is binary (sign x scale)"
        )
    return bits


def _check_weight(w: torch.Tensor) -> torch.Tensor:
    if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.numel() == 0:
        raise TypeError(
            f"expected a non-empty floating-point tensor, got {type(w).__name__}"
            f"{f' of dtype {w.dtype}' if isinstance(w, torch.Tensor) else ''}"
        )
    return w.detach()


def _int_dtype(bits: int, signed: bool) -> torch.dtype:
    """Return the smallest integer dtype that holds a ``bits``-bit code (signed or not)."""
    if bits <= 8:
        return torch.int8 if signed else torch.uint8
    return torch.int16 if signed else torch.int32


def linear_quantize(
    w: torch.Tensor, bits: int, symmetric: bool = True, per_channel: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(q, scale, zero_point)`` with ``w ~= (q - zero_point) * scale`` on a ``bits``-bit integer grid.

    Symmetric: ``q`` in [-(2**(bits-1)-1), 2**(bits-1)-1], ``scale = max|w| / (2**(bits-1)-1)``, zero point 0.
    Asymmetric: ``q`` in [0, 2**bits-1], ``scale = (max-min) / (2**bits-1)``, zero point = the code of 0.0.
    One bit symmetric is binary: ``q = sign(w)`` in {-1, +1} and ``scale = mean|w|`` (XNOR-Net's choice).
    Per channel: one scale and zero point per output channel (dim 0), shaped to broadcast against ``w``.
    """
    w, bits = _check_weight(w), _check_bits(bits)
    dims = tuple(range(1, w.dim())) if per_channel and w.dim() > 1 else tuple(range(w.dim()))
    keep = per_channel and w.dim() > 1

    def reduce(fn, t):
        return fn(t, dim=dims, keepdim=True) if keep else fn(t)

    if symmetric and bits == 1:
        scale = reduce(torch.mean, w.abs())
        q = torch.where(w >= 0, 1, -1).to(torch.int8)
        return q, scale, torch.zeros_like(scale, dtype=torch.int32)
    if symmetric:
        qmin, qmax = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
        scale = _nonzero(reduce(torch.amax, w.abs()) / qmax)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        qmin, qmax = 0, 2**bits - 1
        # The range must contain 0.0 so that zero (padding, ReLU outputs, pruned weights) is exact.
        low, high = reduce(torch.amin, w).clamp(max=0), reduce(torch.amax, w).clamp(min=0)
        scale = _nonzero((high - low) / qmax)
        zero_point = (qmin - torch.round(low / scale)).clamp(qmin, qmax).to(torch.int32)
    q = torch.clamp(torch.round(w / scale) + zero_point, qmin, qmax)
    return q.to(_int_dtype(bits, signed=symmetric)), scale, zero_point


def _nonzero(scale: torch.Tensor) -> torch.Tensor:
    """Return ``scale`` with zeros replaced by 1: an all-zero tensor (or channel) is exact on any grid."""
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """Return the float tensor ``(q - zero_point) * scale`` that the integer codes stand for."""
    return (q.to(torch.float32) - zero_point.to(torch.float32)) * scale


def kmeans_quantize(
    weight: torch.Tensor, bits: int, seed: int = 0, iterations: int = 30, max_samples: int = 2**16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(codebook, indices)``: ``2**bits`` shared values and, per weight, the index of its value.

    Deep Compression's weight sharing (Han et al. 2016): centroids start evenly spaced between the smallest and
    largest weight (linear initialisation, which keeps the rare large weights), then Lloyd's iterations move
    each centroid to the mean of its weights. ``weight ~= codebook[indices]``. Indices are uint8 up to 8 bits,
    int32 above. Tensors larger than ``max_samples`` fit the codebook on a random sample drawn with ``seed``.
    """
    w, bits = _check_weight(weight), _check_bits(bits)
    flat = w.flatten().to(torch.float32)
    sample = flat
    if flat.numel() > max_samples:
        generator = torch.Generator().manual_seed(seed)
        sample = flat[torch.randperm(flat.numel(), generator=generator)[:max_samples]]
    codebook = torch.linspace(flat.min().item(), flat.max().item(), 2**bits)  # the extremes, not the sample's
    for _ in range(iterations):
        labels = _nearest(sample, codebook)
        sums = torch.zeros_like(codebook).index_add_(0, labels, sample)
        counts = torch.zeros_like(codebook).index_add_(0, labels, torch.ones_like(sample))
        # An empty cluster keeps its centroid (it stays a valid, unused code).
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), codebook)
        if torch.equal(updated, codebook):
            break
        codebook = updated
    indices = _nearest(flat, codebook).reshape(w.shape)
    return codebook, indices.to(torch.uint8 if bits <= 8 else torch.int32)


def _nearest(values: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Return the index of the nearest (sorted, 1-D) centroid for each value, via the midpoints between them."""
    midpoints = (codebook[1:] + codebook[:-1]) / 2
    return torch.bucketize(values, midpoints)


@dataclass
class QuantConfig:
    """How to quantize: the backend, the bit width, the scheme and (for static int8) calibration data.

    - ``backend``: "fake" (weights rounded to the grid, still float32: NOT smaller), "onnxruntime" (real int8,
      an exported .onnx file) or "torchao" (real int8 inside PyTorch; Linear layers only).
    - ``scheme``: "symmetric", "asymmetric" (linear grids) or "kmeans" (shared values, fake backend only).
    - ``per_channel``: one scale per output channel; None means the scheme's usual choice (per channel for
      linear grids, one codebook per layer for k-means).
    - ``mode`` (onnxruntime): "static" quantizes activations with ranges calibrated on real inputs (fast for
      CNNs), "dynamic" measures activation ranges at run time (for Linear-heavy models), "auto" picks static
      when the model has convolutions.
    - ``calibration``: a Task, DataLoader or input tensor; ``calibration_size`` inputs are used.
    - ``compile`` (torchao): ``torch.compile`` the result; only compiled torchao int8 is fast (costs ~20 s once).
    - ``skip_unsupported``: leave layers the backend cannot quantize in float32 instead of raising.
    """

    backend: str = "fake"
    bits: int = 8
    scheme: str = "symmetric"
    per_channel: bool | None = None
    mode: str = "auto"
    calibration: Task | DataLoader | torch.Tensor | None = None
    calibration_size: int = 320
    compile: bool = False
    skip_unsupported: bool = False

    def __post_init__(self) -> None:
        for field, value, allowed in (
            ("backend", self.backend, BACKENDS),
            ("scheme", self.scheme, SCHEMES),
            ("mode", self.mode, MODES),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(map(repr, allowed))}")
        _check_bits(self.bits)
        if self.per_channel is None:
            self.per_channel = self.scheme != "kmeans"
        if self.scheme == "kmeans" and self.per_channel:
            raise ValueError(
                "k-means shares one codebook per layer (Deep Compression): per_channel=True does "
                "not apply; leave per_channel unset"
            )
        if self.backend != "fake" and self.bits != 8:
            raise ValueError(
                f"backend {self.backend!r} runs real int8 only, so bits must be 8 (got {self.bits}); "
                "use backend='fake' to study the accuracy of other bit widths"
            )
        if self.backend != "fake" and self.scheme == "kmeans":
            raise ValueError(
                f"backend {self.backend!r} has no k-means kernels: k-means codes are stored compactly "
                "(see lightlab.compress) but run as float; use backend='fake' for scheme='kmeans'"
            )
        if self.calibration_size < 1:
            raise ValueError(f"calibration_size must be >= 1, got {self.calibration_size}")


def quantize_weight(w: torch.Tensor, config: QuantConfig) -> torch.Tensor:
    """Return ``w`` rounded to the grid (or codebook) that ``config`` describes, as float32 (a round trip)."""
    if config.scheme == "kmeans":
        codebook, indices = kmeans_quantize(w, config.bits)
        return codebook[indices.long()]
    q, scale, zero_point = linear_quantize(w, config.bits, config.scheme == "symmetric", config.per_channel)
    return dequantize(q, scale, zero_point)


def quantizable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Return ``(name, layer)`` for every Linear and Conv layer, or raise if the model has none."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, QUANTIZABLE)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to quantize")
    return layers


def fake_quantize(model: nn.Module, config: QuantConfig | None = None) -> nn.Module:
    """Return a copy of ``model`` whose Linear/Conv weights are rounded to the k-bit grid, still float32.

    This shows the *accuracy* of k-bit weights. The copy is NOT smaller or faster: every weight is still a
    4-byte float that happens to take one of 2**bits values. Biases stay float, as in integer kernels.
    """
    config = config or QuantConfig()
    new = copy.deepcopy(model).eval()
    with torch.no_grad():
        for _name, layer in quantizable_layers(new):
            layer.weight.copy_(quantize_weight(layer.weight, config))
    return new


def quantize(model: nn.Module, config: QuantConfig | None = None) -> nn.Module:
    """Return a quantized copy of ``model``: fake (float, rounded), ONNX Runtime int8 or torchao int8."""
    config = config or QuantConfig()
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize expects an nn.Module, got {type(model).__name__}")
    if config.backend == "fake":
        return fake_quantize(model, config)
    return onnxruntime_int8(model, config) if config.backend == "onnxruntime" else torchao_int8(model, config)


class _StraightThrough(nn.Module):
    """A parametrization: the forward pass sees quantized weights, the gradient flows as if it did not."""

    def __init__(self, config: QuantConfig):
        super().__init__()
        self.config = config

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        # Rounding has a zero gradient almost everywhere; the straight-through estimator passes it as identity.
        return w + (quantize_weight(w, self.config) - w).detach()


def qat(
    model: nn.Module,
    task: Task,
    bits: int,
    epochs: int | None = None,
    scheme: str = "symmetric",
    per_channel: bool = True,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> nn.Module:
    """Return a copy of ``model`` fine-tuned with quantized weights in the loop (straight-through estimator).

    The result holds weights on the ``bits``-bit grid (a fake-quantized float model, like ``fake_quantize``).
    """
    if scheme == "kmeans":
        raise ValueError(
            "qat trains on linear grids; k-means fine-tuning updates the shared centroids instead "
            "(as Deep Compression does): use scheme='symmetric' or 'asymmetric'"
        )
    config = QuantConfig(bits=bits, scheme=scheme, per_channel=per_channel)
    new = copy.deepcopy(model)
    layers = quantizable_layers(new)
    for _name, layer in layers:
        parametrize.register_parametrization(layer, "weight", _StraightThrough(config))
    fit(new, task, epochs=epochs if epochs is not None else int(pick(20, 10)), lr=lr, seed=seed, progress=progress)
    for _name, layer in layers:
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return new.eval()


def _default_schemes() -> dict[str, QuantConfig]:
    return {
        "linear per-tensor": QuantConfig(per_channel=False),
        "linear per-channel": QuantConfig(per_channel=True),
        "k-means": QuantConfig(scheme="kmeans"),
    }


def sweep(
    model: nn.Module, task: Task, bits: tuple[int, ...] | None = None, schemes: dict[str, QuantConfig] | None = None
) -> Report:
    """Return test accuracy of fake-quantized copies of ``model`` for each scheme and bit width.

    Rows: ``fp32/accuracy`` and ``{scheme}/accuracy_{b}bit``; ``schemes`` maps a label to a QuantConfig
    whose ``bits`` is replaced by each width (default: linear per-tensor, linear per-channel, k-means).
    """
    bits = bits or tuple(pick((8, 6, 5, 4, 3, 2, 1), (8, 4, 3, 2, 1)))
    schemes = schemes or _default_schemes()
    report = Report(environment=environment())
    report.add("fp32", "accuracy", 100 * evaluate(model, task, metric="accuracy"), "%", f"test split of {task.name!r}")
    for label, cfg in schemes.items():
        grid = (
            "one codebook per layer"
            if cfg.scheme == "kmeans"
            else f"{cfg.scheme}, {'per-channel' if cfg.per_channel else 'per-tensor'}"
        )
        for b in bits:
            accuracy = evaluate(fake_quantize(model, replace(cfg, bits=b)), task, metric="accuracy")
            report.add(
                label,
                f"accuracy_{b}bit",
                100 * accuracy,
                "%",
                f"fake-quantized Linear/Conv weights ({grid}), test split of {task.name!r}",
            )
    return report


def plot_sweep(report: Report) -> go.Figure:
    """Return a plotly line chart of accuracy against bit width, one line per scheme, FP32 dashed."""
    fig = go.Figure()
    for label in report.models():
        rows = sorted(
            (int(r["metric"].removeprefix("accuracy_").removesuffix("bit")), r["value"])
            for r in report.rows
            if r["model"] == label and r["metric"].endswith("bit")
        )
        if rows:
            fig.add_scatter(x=[b for b, _ in rows], y=[a for _, a in rows], mode="lines+markers", name=label)
    if "fp32" in report.models():
        fig.add_hline(y=report.value("fp32", "accuracy"), line_dash="dash", annotation_text="fp32")
    fig.update_layout(xaxis_title="bits per weight", yaxis_title="test accuracy (%)", height=380, xaxis={"dtick": 1})
    return fig


def ptq_vs_qat(
    model: nn.Module, task: Task, bits: tuple[int, ...] = (4, 2), epochs: int | None = None, seed: int = 0
) -> Report:
    """Return test accuracy of FP32, post-training quantization and quantization-aware training per bit width."""
    report = Report(environment=environment())
    report.add("fp32", "accuracy", 100 * evaluate(model, task, metric="accuracy"), "%", f"test split of {task.name!r}")
    for b in bits:
        ptq = fake_quantize(model, QuantConfig(bits=b))
        report.add(
            f"PTQ {b}-bit",
            "accuracy",
            100 * evaluate(ptq, task, metric="accuracy"),
            "%",
            f"weights rounded after training (symmetric, per-channel), test split of {task.name!r}",
        )
        trained = qat(model, task, b, epochs=epochs, seed=seed)
        report.add(
            f"QAT {b}-bit",
            "accuracy",
            100 * evaluate(trained, task, metric="accuracy"),
            "%",
            f"fine-tuned with {b}-bit weights in the loop (straight-through estimator), test split",
        )
    return report


def plot_grid(weight: torch.Tensor, bits: int = 3, scheme: str = "symmetric") -> go.Figure:
    """Return a histogram of ``weight`` with its per-tensor k-bit grid (or k-means codebook) drawn over it."""
    QuantConfig(bits=bits, scheme=scheme)  # validates bits and scheme
    w = _check_weight(weight).flatten()
    if scheme == "kmeans":
        levels, indices = kmeans_quantize(w, bits)
        rounded, title = levels[indices.long()], f"{bits}-bit k-means codebook ({2**bits} shared values)"
    else:
        q, scale, zero_point = linear_quantize(w, bits, symmetric=scheme == "symmetric")
        if scheme == "asymmetric":
            codes = torch.arange(2**bits)
        else:
            codes = torch.tensor([-1, 1]) if bits == 1 else torch.arange(-(2 ** (bits - 1) - 1), 2 ** (bits - 1))
        levels, rounded = dequantize(codes, scale, zero_point), dequantize(q, scale, zero_point)
        title = f"{bits}-bit {scheme} grid: scale = {scale.item():.4g}, zero_point = {zero_point.item()}"
    # Binned here, not in the browser: a layer can hold a million weights, the figure only 2 x 200 bars.
    edges = np.linspace(min(w.min(), rounded.min()).item(), max(w.max(), rounded.max()).item(), 201)
    centres, width = (edges[1:] + edges[:-1]) / 2, edges[1] - edges[0]
    fig = go.Figure()
    for values, name in ((w, "float32 weights"), (rounded, f"{bits}-bit weights")):
        counts, _ = np.histogram(values.numpy(), bins=edges)
        fig.add_bar(x=centres, y=counts, width=width, name=name, opacity=0.6)
    if len(levels) <= 64:  # beyond that the lines merge into a grey band
        for level in levels.tolist():
            fig.add_vline(x=level, line_width=1, line_dash="dot", line_color="grey")
    fig.update_layout(
        title=title, barmode="overlay", xaxis_title="weight value", yaxis_title="count", yaxis_type="log", height=380
    )
    return fig


class QuantExplorer(Explorer):
    """Quantize live: bit width, scheme, granularity and backend rerun ``quantize`` and ``benchmark``."""

    def __init__(self, model: nn.Module, task: Task, batch: int = 64):
        self.model, self.task, self.batch = model, task, batch
        self.bits = widgets.IntSlider(value=4, min=1, max=8, description="bits")
        self.scheme = widgets.Dropdown(options=SCHEMES, value="symmetric", description="scheme")
        self.per_channel = widgets.Checkbox(value=True, description="per channel")
        self.backend = widgets.Dropdown(options=BACKENDS, value="fake", description="backend")
        self.summary, self.output = widgets.Label(), widgets.Output()
        self.result: Report | None = None
        self.runs = 0
        for control in (self.bits, self.scheme, self.per_channel, self.backend):
            control.observe(lambda _change: self.run(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.bits, self.scheme]),
                widgets.HBox([self.per_channel, self.backend]),
                self.summary,
                self.output,
            ]
        )

    def config(self) -> QuantConfig:
        """Return the QuantConfig the controls describe (real backends always use 8 bits)."""
        real = self.backend.value != "fake"
        self.bits.disabled = real
        return QuantConfig(
            backend=self.backend.value,
            bits=8 if real else self.bits.value,
            scheme=self.scheme.value,
            per_channel=None if self.scheme.value == "kmeans" else self.per_channel.value,
            calibration=self.task if real else None,
        )

    def run(self) -> Report | None:
        """Quantize with the current settings, measure against FP32, redraw; return the Report (None if refused)."""
        self.runs += 1
        try:
            cfg = self.config()
            label = f"{cfg.backend} {cfg.bits}-bit {cfg.scheme}"
            quantized = quantize(self.model, cfg)
        except ValueError as err:
            self.result, self.summary.value = None, f"not possible: {err}"
            self.redraw()
            return None
        report = benchmark({"fp32": self.model, label: quantized}, self.task, batch=self.batch, rounds=1)
        self.result = report
        self.summary.value = (
            f"{label}: accuracy {report.value(label, 'accuracy'):.1f} % "
            f"(fp32 {report.value('fp32', 'accuracy'):.1f} %), size "
            f"{report.ratio('size', label, 'fp32'):.2f}x fp32, "
            f"{report.value(label, 'speedup'):.1f}x the speed of fp32 at batch {self.batch}"
        )
        self.redraw(plots.report_bars(report, ["accuracy", "size", f"latency_p50_b{self.batch}"]))
        return report

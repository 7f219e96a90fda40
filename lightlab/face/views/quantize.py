"""Pictures and knobs for quantization: accuracy against bit width, a weight grid, the ranges calibration picks,
and the quantization explorer."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement.measure import count_params
from lightlab.measurement.report import Report, is_disturbed
from lightlab.measurement.units import human
from lightlab.techniques.calibrate import PERCENTILE, activation_range
from lightlab.techniques.int8 import benchmark, onnxruntime_fp32, speedup_split
from lightlab.techniques.quantize import (
    BACKENDS,
    SCHEMES,
    QuantConfig,
    dequantize,
    kmeans_quantize,
    linear_quantize,
    quantizable_layers,
    quantize,
)


def plot_bit_sweep(report: Report) -> go.Figure:
    """Return a plotly line chart of accuracy against bit width (a ``bit_sweep`` Report), one line per scheme."""
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


def plot_grid(weight: torch.Tensor, bits: int = 3, scheme: str = "symmetric") -> go.Figure:
    """Return a histogram of ``weight`` with its per-tensor k-bit grid (or k-means codebook) drawn over it."""
    QuantConfig(bits=bits, scheme=scheme)  # validates bits and scheme
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point() or weight.numel() == 0:
        linear_quantize(weight, bits)  # raises the quantizers' own message for anything but a float tensor
    w = weight.detach().flatten()
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


def plot_calibration(values: torch.Tensor, bits: int = 8, percentile: float = PERCENTILE, what: str = "") -> go.Figure:
    """Return a histogram of observed activation ``values`` with the range each calibration method picks drawn on it."""
    x = values.detach().flatten().to(torch.float64).numpy()
    ranges = {
        "min-max": activation_range(x, "minmax"),
        f"percentile {percentile:g} %": activation_range(x, "percentile", percent=percentile),
        f"entropy ({bits} bits)": activation_range(x, "entropy", bits=bits),
    }
    # Binned here, not in the browser: calibration sees tens of thousands of values, the figure holds 200 bars.
    counts, edges = np.histogram(x, bins=200)
    fig = go.Figure()
    fig.add_bar(x=(edges[1:] + edges[:-1]) / 2, y=counts, width=edges[1] - edges[0], name="values seen", opacity=0.6)
    top = counts.max()
    for (name, (lo, hi)), colour in zip(ranges.items(), ("crimson", "darkorange", "seagreen"), strict=True):
        step = (max(hi, 0) - min(lo, 0)) / (2**bits - 1)
        fig.add_scatter(
            x=[lo, lo, None, hi, hi],
            y=[0.5, top, None, 0.5, top],
            mode="lines",
            name=f"{name}: [{lo:.3g}, {hi:.3g}], step {step:.3g}",
            line={"color": colour, "dash": "dash", "width": 2},
        )
    fig.update_layout(
        title=f"Calibrated ranges{' of ' + what if what else ''}: {len(x):,} values seen; a {bits}-bit grid has "
        f"{2**bits} codes across each range",
        xaxis_title="activation value",
        yaxis_title="count (log scale)",
        yaxis_type="log",
        height=400,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        margin={"t": 110},
    )
    return fig


def simulated_size(model: nn.Module, bits: int) -> int:
    """Return the bytes ``model`` would take with its Linear/Conv weights stored as ``bits``-bit codes and every
    other parameter as float32 (scales and codebooks not counted): what fake quantization stands for."""
    weights = sum(layer.weight.numel() for _, layer in quantizable_layers(model))
    return (weights * bits + 7) // 8 + 4 * (count_params(model) - weights)


class QuantExplorer(Explorer):
    """Quantize live: bit width, scheme, granularity and backend rerun ``quantize`` and ``benchmark``.

    The fake backend is simulated (float32 weights on a k-bit grid): it gets accuracy and the size it would take,
    never a speed. Real int8 backends are timed side by side with fp32, and a disturbed timing says so.
    """

    def __init__(self, model: nn.Module, task: Task, batch: int = 64):
        self.model, self.task, self.batch = model, task, batch
        wide = {"style": FULL_LABEL}
        self.bits = widgets.IntSlider(value=4, min=1, max=8, description="bits", **wide)
        self.scheme = widgets.Dropdown(options=SCHEMES, value="symmetric", description="scheme", **wide)
        self.per_channel = widgets.Checkbox(value=True, description="per channel", **wide)
        self.backend = widgets.Dropdown(options=BACKENDS, value="fake", description="backend", **wide)
        self.result: Report | None = None
        self.runs = 0
        self.layout((self.bits, self.scheme), (self.per_channel, self.backend))

    def config(self) -> QuantConfig:
        """Return the QuantConfig the controls describe (real backends always use 8 bits)."""
        real = self.backend.value != "fake"
        self.bits.disabled = real
        return QuantConfig(
            backend=self.backend.value,
            bits=8 if real else self.bits.value,
            scheme=self.scheme.value,
            per_channel=None if self.scheme.value == "kmeans" else self.per_channel.value,
        )

    def run(self) -> Report | None:
        """Quantize with the current settings, measure against FP32, redraw; return the Report (None if refused)."""
        self.runs += 1
        try:
            cfg = self.config()
            label = f"{cfg.backend} {cfg.bits}-bit {cfg.scheme}"
            quantized = quantize(self.model, cfg, task=self.task)
        except ValueError as err:
            self.result, self.summary.value = None, f"not possible: {err}"
            self.redraw()
            return None
        fake = cfg.backend == "fake"
        models = {"fp32": self.model, label: quantized}
        if cfg.backend == "onnxruntime":  # the same engine in float32: what int8 itself buys, apart from the engine
            reference = onnxruntime_fp32(self.model, self.task.example(1))
            models = {"fp32": self.model, "onnxruntime fp32": reference, label: quantized}
        report = benchmark(models, task=self.task, batch=self.batch, timed=not fake)
        accuracy = f"accuracy {report.value(label, 'accuracy'):.1f} % (fp32 {report.value('fp32', 'accuracy'):.1f} %)"
        if fake:
            size = simulated_size(self.model, cfg.bits)
            method = (
                f"Linear/Conv weights as {cfg.bits}-bit codes, the rest float32 (computed: no such file is written)"
            )
            report.add(label, "simulated_size", size, "bytes", method)
            self.summary.value = (
                f"{label}, simulated (weights rounded to the grid but still float32, so no faster and no smaller): "
                f"{accuracy}; stored as {cfg.bits}-bit codes it would take about {human(size, 'bytes')} "
                f"(fp32 file {human(report.value('fp32', 'size'), 'bytes')})"
            )
            metrics = ["accuracy", "size", "simulated_size"]
        else:
            row = next(r for r in report.rows if r["model"] == label and r["metric"] == "speedup")
            speed = (
                "speed-up not measurable now (other processes disturbed the timing)"
                if is_disturbed(row)
                else f"{human(row['value'], 'x')} the speed of fp32 at batch {self.batch} (measured)"
            )
            if cfg.backend == "onnxruntime" and not is_disturbed(row):
                runtime, precision, _ = speedup_split(report, self.batch, "fp32", "onnxruntime fp32", label).rows
                speed += (
                    f": {human(runtime['value'], 'x')} from the runtime (ONNX Runtime float32 against PyTorch) "
                    f"times {human(precision['value'], 'x')} from int8 itself (against ONNX Runtime float32)"
                )
            size = report.ratio("size", label, "fp32")
            self.summary.value = f"{label}: {accuracy}, file {size:.2f}x the size of fp32's, {speed}"
            metrics = ["accuracy", "size", f"latency_p50_b{self.batch}"]
        self.result = report
        self.redraw(plots.report_bars(report, metrics))
        return report

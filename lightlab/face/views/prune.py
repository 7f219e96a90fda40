"""Pictures and knobs for pruning: the sensitivity scan, weight histograms and the pruning explorer."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer, slider
from lightlab.measurement import measure
from lightlab.measurement.report import Report
from lightlab.measurement.units import human
from lightlab.techniques.prune import LAYER_TYPES, PruneConfig, finetune, prune
from lightlab.techniques.sparse import count_nonzero

GRANULARITIES = {
    "unstructured, per layer": ("layer", False),
    "unstructured, global": ("global", False),
    "structured (channels)": ("layer", True),
}


def plot_sensitivity(table: pd.DataFrame) -> go.Figure:
    """Return accuracy-vs-sparsity lines, one per layer, from a ``layer_sensitivity`` table."""
    fig = go.Figure()
    for layer, rows in table.groupby("layer", sort=False):
        fig.add_scatter(x=100 * rows["sparsity"], y=rows["accuracy"], mode="lines+markers", name=layer)
    fig.update_layout(
        xaxis_title="sparsity of that layer (%)",
        yaxis_title="accuracy (%)",
        height=380,
        title="Sensitivity: accuracy when one layer at a time is pruned",
    )
    return fig


def weight_histogram(models: Mapping[str, nn.Module], bins: int = 80) -> go.Figure:
    """Return overlaid histograms of the non-zero Linear/Conv weights of each model (zeros counted in the legend)."""
    weights = {
        name: torch.cat([m.weight.detach().flatten() for m in model.modules() if isinstance(m, LAYER_TYPES)]).numpy()
        for name, model in models.items()
    }
    edges = np.linspace(min(w.min() for w in weights.values()), max(w.max() for w in weights.values()), bins + 1)
    fig = go.Figure()
    for name, values in weights.items():  # binned here: a million raw values would bloat the notebook
        counts, _ = np.histogram(values[values != 0], bins=edges)
        fig.add_bar(
            x=(edges[:-1] + edges[1:]) / 2, y=counts, name=f"{name} ({np.mean(values == 0):.0%} zeros)", opacity=0.6
        )
    fig.update_layout(
        barmode="overlay",
        bargap=0,
        xaxis_title="weight value",
        yaxis_title="count (non-zero)",
        yaxis_type="log",
        height=360,
    )
    return fig


class PruneExplorer(Explorer):
    """Prune live: sparsity, granularity and fine-tuning rerun ``prune`` (+ ``finetune``) and ``measure``."""

    def __init__(self, model: nn.Module, task: Task, batch_size: int = 64):
        self.model, self.task, self.batch_size = model, task, batch_size
        # Labels in full (never cut to "granul..."), and a slider wide enough that a 1 % step is a few pixels.
        full = {"style": FULL_LABEL}
        self.sparsity = slider(w.FloatSlider, "sparsity", 0.5, 0.0, 0.99, 0.01)
        self.granularity = w.Dropdown(
            options=list(GRANULARITIES), value="unstructured, global", description="granularity", **full
        )
        self.finetune = w.Checkbox(
            value=False, description="fine-tune after pruning (a few seconds)", layout=w.Layout(width="auto"), **full
        )
        self.result: Report | None = None
        self.pruned: nn.Module | None = None
        self.runs = 0
        self.layout((self.sparsity, self.granularity), self.finetune)

    def run(self) -> Report:
        """Prune with the current settings, measure original and pruned, redraw the chart and return the Report."""
        scope, structured = GRANULARITIES[self.granularity.value]
        pruned = prune(self.model, PruneConfig(self.sparsity.value, scope, structured), task=self.task)
        if self.finetune.value:
            pruned = finetune(pruned, task=self.task)
        models = {"original": self.model, "pruned": pruned}
        report = measure.measure(models, self.task, batch_sizes=(self.batch_size,))
        for name, m in models.items():
            report.add(name, "nonzero_params", count_nonzero(m), "count", "parameter elements != 0")
        self.pruned, self.result, self.runs = pruned, report, self.runs + 1
        self.summary.value = self.describe(report)
        self.redraw(
            plots.report_bars(report, ["accuracy", "nonzero_params", "size", f"latency_p50_b{self.batch_size}"])
        )
        return report

    def describe(self, report: Report) -> str:
        """Return one sentence on what the current pruning kept and cost, and the latency as measured (flagged when
        other processes disturbed it); unstructured zeros are said to buy no speed, since dense kernels skip none."""
        b = self.batch_size
        metric = f"latency_p50_b{b}"
        before, after = (human(report.value(m, metric), "ms") for m in ("original", "pruned"))
        ratio = report.versus("original", [metric]).iloc[0]["pruned / original"]
        latency = (
            f"latency at batch {b}: not measurable now (other processes disturbed the timing; move a control to rerun)"
            if report.disturbed([metric])
            else f"latency at batch {b}: {ratio} the original's ({before} -> {after}, measured)"
        )
        if not GRANULARITIES[self.granularity.value][1]:
            latency += "; the dense kernel multiplies the zeros too, so unstructured pruning does not make it faster"
        return (
            f"{self.granularity.value}, {self.sparsity.value:.0%}"
            f"{' + fine-tuning' if self.finetune.value else ''}: accuracy "
            f"{report.value('pruned', 'accuracy'):.1f} % (original {report.value('original', 'accuracy'):.1f} %), "
            f"{report.ratio('nonzero_params', 'pruned', 'original'):.0%} of the weights left, "
            f"{report.ratio('size', 'pruned', 'original'):.0%} of the file size; {latency}"
        )

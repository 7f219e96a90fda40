"""Pictures and knobs for Deep Compression: file size and accuracy stage by stage, and the compression explorer."""

from __future__ import annotations

import tempfile
from pathlib import Path

import ipywidgets as w
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face.widgets import FULL_LABEL, Explorer, slider
from lightlab.measurement.report import Report
from lightlab.measurement.units import human
from lightlab.techniques.compress import STAGES, CompressConfig, CompressionResult, compress
from lightlab.techniques.entropy import CODERS


def plot_stages(report: Report) -> go.Figure:
    """Return bars of file size per stage (log scale, ratio on top) with accuracy as a line on a second axis."""
    stages = [s for s in STAGES if s in report.models()]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    sizes = [report.value(s, "size") / 1e3 for s in stages]
    fig.add_bar(
        x=stages,
        y=sizes,
        name="file size (kB)",
        text=[f"{report.value(s, 'ratio'):.1f}x" for s in stages],
        textposition="outside",
        marker_color="#636EFA",
    )
    if any(r["metric"] == "accuracy" for r in report.rows):
        fig.add_scatter(
            x=stages,
            y=[report.value(s, "accuracy") for s in stages],
            name="accuracy (%)",
            mode="lines+markers",
            marker_color="#EF553B",
            secondary_y=True,
        )
    fig.update_yaxes(title_text="file size (kB, log)", type="log", secondary_y=False)
    fig.update_yaxes(title_text="test accuracy (%)", secondary_y=True)
    fig.update_layout(height=380, title="Deep Compression, stage by stage (sizes of real files)")
    return fig


class CompressExplorer(Explorer):
    """Compress live: the largest layer's sparsity, the bits, the coder and fine-tuning rerun ``compress``."""

    def __init__(self, model: nn.Module, task: Task, base: CompressConfig | None = None):
        self.model, self.task, self.base = model, task, base or CompressConfig()
        layers = self.base.layer_settings(model)
        # The layer holding the most weights decides the file size: that is the one worth a slider.
        self.largest = max(layers, key=lambda n: model.get_submodule(n).weight.numel())
        full = {"style": FULL_LABEL}  # labels in full, never cut short
        self.sparsity = slider(
            w.FloatSlider, f"sparsity of layer {self.largest}", layers[self.largest][0], 0.5, 0.99, 0.01
        )
        self.bits = slider(w.IntSlider, "bits", layers[self.largest][1], 1, 8)
        self.coder = w.Dropdown(options=list(CODERS), value=self.base.coder, description="coder", **full)
        self.finetune = w.Checkbox(
            value=False, description="fine-tune after each stage (slower)", layout=w.Layout(width="auto"), **full
        )
        self.result: CompressionResult | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="lightlab-compress-")
        self.layout((self.sparsity, self.bits), (self.coder, self.finetune))

    def config(self) -> CompressConfig:
        """Return the CompressConfig the controls describe now."""
        sparsity = {n: s for n, (s, _) in self.base.layer_settings(self.model).items()}
        epochs = None if self.finetune.value else 0
        return CompressConfig(
            sparsity={**sparsity, self.largest: self.sparsity.value},
            bits=self.bits.value,
            coder=self.coder.value,
            finetune_epochs=epochs,
            codebook_epochs=epochs,
            lr=self.base.lr,
            codebook_lr=self.base.codebook_lr,
            seed=self.base.seed,
        )

    def run(self) -> CompressionResult:
        """Compress with the current settings, redraw the stage chart and return the CompressionResult."""
        result = compress(self.model, self.config(), task=self.task, path=Path(self._folder.name) / "model.lldc")
        r = result.report
        self.result = result
        self.summary.value = (
            f"{human(r.value('coded', 'size'), 'bytes')}, {result.ratio:.1f}x smaller than FP32; "
            f"accuracy {r.value('coded', 'accuracy'):.1f} % "
            f"(FP32 {r.value('fp32', 'accuracy'):.1f} %)"
        )
        self.redraw(plot_stages(r))
        return result

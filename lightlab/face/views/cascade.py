"""The face of the edge/cloud cascade: its curves against the threshold, and ``CascadeExplorer``."""

from __future__ import annotations

from dataclasses import replace

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer, slider
from lightlab.measurement.report import Report
from lightlab.techniques.adaptive.cascade import evaluate_cascade, sweep_thresholds
from lightlab.techniques.adaptive.links import NETWORKS

# How ``cascade`` prices the device's energy: its compute on the phone profile, its radio from a Network's figures.
ENERGY_METHOD = "modelled (compute: phone,<br>Edge TPU + LPDDR4; radio: assumed)"


def plot_thresholds(df: pd.DataFrame, threshold: float | None = None, energy_method: str = ENERGY_METHOD) -> go.Figure:
    """Return three panels of a ``sweep_thresholds`` table against the threshold: accuracy and offload share,
    mean latency, device energy (``energy_method`` says how it was modelled)."""
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=[
            "accuracy and<br>offload share (%)",
            "latency (ms)",
            f"device energy per input (J),<br>{energy_method}",
        ],
    )
    panels = [
        (1, "accuracy", "accuracy"),
        (1, "offload_share", "sent to the cloud"),
        (2, "latency_mean_ms", "mean latency"),
        (2, "latency_p95_ms", "p95 latency"),
        (3, "energy_j", "energy"),
    ]
    for i, (col, column, label) in enumerate(panels):
        fig.add_scatter(
            x=df["threshold"], y=df[column], name=label, mode="lines", row=1, col=col, line={"color": plots.colour(i)}
        )
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="grey", row="all", col="all")
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_xaxes(title_text="confidence threshold")
    fig.update_layout(
        height=430,
        margin={"t": 140, "b": 40, "l": 50, "r": 20},
        # above the panel titles (the energy one takes three lines): a horizontal legend's default place is over the
        # x-axis ticks and titles
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.3, "yanchor": "bottom"},
    )
    return fig


class CascadeExplorer(Explorer):
    """Move the confidence threshold, pick a network and its round-trip time: ``evaluate_cascade`` and
    ``sweep_thresholds`` rerun."""

    def __init__(self, small: nn.Module, large: nn.Module, task: Task, split: str = "test"):
        self.small, self.large, self.task, self.split = small, large, task, split
        self.threshold = slider(w.FloatSlider, "confidence threshold", 0.9, 0.0, 1.0, 0.01)
        self.network = w.Dropdown(options=list(NETWORKS), value="4G LTE", description="network", style=FULL_LABEL)
        self.rtt = slider(
            w.FloatLogSlider, "round trip (ms)", NETWORKS["4G LTE"].rtt_ms, 0, 4, 0.01, readout=",.0f", base=10
        )
        self.result: Report | None = None
        self._preset = self.network.value  # the network whose preset RTT the slider was last given
        self.layout(self.threshold, (self.network, self.rtt))

    def run(self) -> Report:
        """Evaluate the cascade at the current threshold and network, redraw the curves and return the Report."""
        if self.network.value != self._preset:  # a new network: its preset RTT replaces the slider's
            self._preset = self.network.value
            rtt = NETWORKS[self.network.value].rtt_ms
            if self.rtt.value != rtt:
                self.rtt.value = rtt  # its observer reruns
                return self.result
        net = replace(
            NETWORKS[self.network.value],
            rtt_ms=float(self.rtt.value),
            name=f"{self.network.value} (RTT {self.rtt.value:.0f} ms)",
        )
        t = self.threshold.value
        report = evaluate_cascade(self.small, self.large, self.task, t, net, split=self.split)
        self.result = report
        self.redraw(plot_thresholds(sweep_thresholds(self.small, self.large, self.task, net, split=self.split), t))
        name = f"cascade (threshold {t:g})"
        self.summary.value = (
            f"threshold {t:.2f} on {net.name}: accuracy {report.value(name, 'accuracy'):.1f} % (small "
            f"{report.value('edge only (small)', 'accuracy'):.1f}, large "
            f"{report.value('cloud only (large)', 'accuracy'):.1f}), {report.value(name, 'offload_share'):.0f} % "
            f"sent to the cloud, mean latency {report.value(name, 'latency_mean'):.1f} ms, "
            f"{1e3 * report.value(name, 'energy_device_per_input'):.2f} mJ per input on the device, "
            f"{ENERGY_METHOD.replace('<br>', ' ')}"
            + ("; the model timings were disturbed by other programs" if report.disturbed() else "")
        )
        return report

"""Pictures and knobs for device budgets (notebook 10): flash and RAM bars, and the device picker."""

from __future__ import annotations

import math

import ipywidgets as w
import plotly.graph_objects as go
from torch import nn

from lightlab.applications.device_survey import int8_copy
from lightlab.data.tasks import Task
from lightlab.face.widgets import Explorer
from lightlab.measurement.budget import DEVICE_BUDGETS, Fit, fits, format_bytes, lookup


def plot_fits(results: list[Fit]) -> go.Figure:
    """Return bars of flash and RAM used, as % of each device's budget (log scale; the dashed line is 100 %)."""
    fig = go.Figure()
    labels = [f"{f.model} ({f.precision})<br>{f.device.name}" for f in results]
    for what, used, have in (("flash", "flash_used", "flash"), ("RAM", "ram_used", "ram")):
        shares = [100 * getattr(f, used) / getattr(f.device, have) for f in results]
        text = [f"{format_bytes(getattr(f, used))} of {format_bytes(getattr(f.device, have))}" for f in results]
        fig.add_bar(
            x=labels,
            y=shares,
            name=what,
            text=text,
            textposition="outside",
            marker_pattern_shape=["" if s <= 100 else "x" for s in shares],
        )
    # No annotation_text on the line: on a log axis plotly would place it at y = 10^100 and stretch the axis.
    # The label is an annotation of its own, whose y a log axis reads as log10(100).
    fig.add_hline(y=100, line_dash="dash")
    fig.add_annotation(
        x=1,
        xref="paper",
        y=math.log10(100),
        yref="y",
        text="budget (100 %)",
        showarrow=False,
        xanchor="right",
        yanchor="bottom",
    )
    fig.update_layout(
        barmode="group",
        yaxis_type="log",
        yaxis_title="% of the device's budget",
        height=420,
        title="Above the dashed line: does not fit (hatched bars)",
    )
    return fig


class DevicePicker(Explorer):
    """Pick a device, a model and a precision: fits or not, with flash and RAM bars (int8 = ONNX Runtime static)."""

    def __init__(
        self,
        models: dict[str, nn.Module],
        task: Task,
        device: str = "MCU (nRF52840)",
        int8: dict[str, nn.Module] | None = None,
    ):
        self.models, self.task = models, task
        self.device = w.Dropdown(options=list(DEVICE_BUDGETS), value=lookup(device).name, description="device")
        self.model = w.Dropdown(options=list(models), description="model")
        self.precision = w.ToggleButtons(options=["fp32", "int8"], description="precision")
        self.result: Fit | None = None
        self._int8 = dict(int8 or {})  # int8 models given, or quantized once per model on first request
        self.layout((self.device, self.model), self.precision)

    def variant(self) -> nn.Module:
        """Return the chosen model at the chosen precision (int8: ONNX Runtime static, calibrated on the task)."""
        name = self.model.value
        if self.precision.value == "fp32":
            return self.models[name]
        if name not in self._int8:
            self._int8[name] = int8_copy(self.models[name], self.task)
        return self._int8[name]

    def run(self) -> Fit:
        """Check the chosen model on the chosen device, redraw the bars and return the Fit."""
        result = fits(self.variant(), self.task.example(1), self.device.value, name=self.model.value)
        self.result = result
        self.redraw(plot_fits([result]))
        self.summary.value = result.message  # last, so a changed sentence means the chart is redrawn too
        return result

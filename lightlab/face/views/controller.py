"""The face of the adaptive-model controller: its operating points, a simulated day, and ``ControllerExplorer``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as w
import plotly.graph_objects as go

from lightlab.face import plots
from lightlab.face.widgets import Explorer, slider
from lightlab.measurement.report import Report
from lightlab.measurement.units import readable
from lightlab.techniques.adaptive.controller import BudgetError, Controller, Decision, ResourceBudget
from lightlab.techniques.adaptive.slimmable import point_name


def _padded(values: Sequence[float], low: float = 0.1, high: float = 0.1) -> list[float]:
    """Return an axis range around ``values`` with room below and above (for point labels), never empty."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or abs(hi) or 1.0
    return [lo - low * span, hi + high * span]


def _nice_axis(values: Sequence[float]) -> dict:
    """Return range and tick step for ``values`` at round numbers (97, 97.5, 98 ... not 98.16)."""
    lo, hi = min(values), max(values)
    step = next(s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if (hi - lo) / s <= 5)
    return {"range": [math.floor(lo / step) * step - step, math.ceil(hi / step) * step + step], "dtick": step}


def plot_points(controller: Controller, picked: float | None = None) -> go.Figure:
    """Return accuracy against latency of every operating point, the picked width highlighted."""
    pts = controller.points
    x, y = [p["latency_ms"] for p in pts], [p["accuracy"] for p in pts]
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=y,
            mode="lines+markers+text",
            text=[point_name(p["width"]) for p in pts],
            textposition="top center",
            name="operating points",
            marker={
                "size": [18 if p["width"] == picked else 10 for p in pts],
                "color": [plots.colour(1) if p["width"] == picked else plots.colour(0) for p in pts],
            },
        )
    )
    title = "One network, several operating points" + (f": runs at w={picked:g}" if picked else "")
    if controller.disturbed:
        title += "<br><sub>latencies disturbed by other programs: rerun the profile on a quiet machine</sub>"
    fig.update_layout(
        xaxis={"title": f"{readable(controller.latency_metric)} (ms)", "range": _padded(x)},
        yaxis={"title": "test accuracy (%)", "range": _padded(y, high=0.3)},  # room above for the labels
        height=360,
        margin={"t": 70},
        title=title,
    )
    return fig


def plot_simulation(budgets: Sequence[ResourceBudget], decisions: Sequence[Decision | None]) -> go.Figure:
    """Return a line chart of ``simulate``'s decisions, one step per budget: width, battery charge and accuracy."""
    steps = list(range(len(budgets)))
    accuracy = [d.accuracy if d else None for d in decisions]
    fig = go.Figure()
    fig.add_scatter(
        x=steps, y=[d.width if d else None for d in decisions], mode="lines+markers", name="width", line_shape="hv"
    )
    fig.add_scatter(x=steps, y=[b.battery for b in budgets], name="battery charge", line={"dash": "dot"})
    fig.add_scatter(x=steps, y=accuracy, name="accuracy (%)", yaxis="y2")
    known = [a for a in accuracy if a is not None]
    right = {"title": "accuracy (%)", "overlaying": "y", "side": "right", "showgrid": False}
    fig.update_layout(
        xaxis_title="step (hour)",
        yaxis={"title": "width / charge", "range": [0, 1.05], "dtick": 0.2},
        yaxis2=right | (_nice_axis(known) if known else {}),
        height=380,
        margin={"t": 90},
        title="The controller switches width as the battery drains and the load changes",
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
    )
    return fig


class ControllerExplorer(Explorer):
    """Move the latency, memory and battery budgets: the controller's pick is highlighted among the points."""

    def __init__(self, profile_report: Report):
        self.controller = Controller(profile_report)
        pts = self.controller.points
        fastest, slowest = min(p["latency_ms"] for p in pts), max(p["latency_ms"] for p in pts)
        most = max(p["memory_bytes"] for p in pts) / 1e3
        self.latency = slider(
            w.FloatSlider,
            "latency budget (ms)",
            round(1.2 * slowest, 3),
            round(0.5 * fastest, 3),
            round(1.2 * slowest, 3),
            round(fastest / 10, 4) or 0.001,
            readout=".3f",
            width=480,
        )
        self.memory = slider(
            w.FloatSlider,
            "memory budget (kB)",
            round(1.1 * most),
            1.0,
            round(1.1 * most),
            1.0,
            readout=",.0f",
            width=480,
        )
        self.battery = slider(w.IntSlider, "battery charge (%)", 100, 0, 100, width=480)
        self.result: Decision | None = None
        self.layout(self.latency, self.memory, self.battery)

    def budget(self) -> ResourceBudget:
        """Return the ResourceBudget the sliders describe now."""
        return ResourceBudget(
            latency_ms=self.latency.value, memory_bytes=1e3 * self.memory.value, battery=self.battery.value / 100
        )

    def run(self) -> Decision | None:
        """Ask the controller for the sliders' budget, redraw, and return its Decision (None when nothing fits)."""
        try:
            self.result = self.controller.decide(self.budget())
            self.summary.value = self.result.summary
        except BudgetError as err:
            self.result, self.summary.value = None, str(err)
        self.redraw(plot_points(self.controller, self.result.width if self.result else None))
        return self.result

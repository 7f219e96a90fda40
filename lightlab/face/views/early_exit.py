"""The face of early exits: accuracy against measured latency per threshold, where inputs leave, and an explorer."""

from __future__ import annotations

import ipywidgets as w
import plotly.graph_objects as go

from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement.report import Report, is_disturbed
from lightlab.measurement.units import human
from lightlab.techniques.adaptive.early_exit import LATENCY, thresholds_of

US = 1e3  # latencies are stored in ms; at batch 1 they read better in µs


def _exits(report: Report) -> list[str]:
    return [m for m in dict.fromkeys(r["metric"] for r in report.rows) if m.startswith("exit ")]


def _disturbed(report: Report) -> bool:
    return any(is_disturbed(r) for r in report.rows if r["metric"] == LATENCY)


def plot_tradeoff(report: Report, picked: str | None = None) -> go.Figure:
    """Return test accuracy against measured latency per input: the thresholds of a ``sweep`` as one line, every
    other model of the report (the slimmable widths, the full network) as labelled points; ``picked`` highlighted."""
    points = thresholds_of(report)
    others = [m for m in report.models() if m not in points]
    fig = go.Figure()
    fig.add_scatter(
        x=[US * report.value(p, LATENCY) for p in points],
        y=[report.value(p, "accuracy") for p in points],
        mode="lines+markers+text",
        text=points,
        textposition="bottom right",
        name="early exit, one point per threshold",
        marker={"size": [16 if p == picked else 9 for p in points], "color": plots.colour(0)},
    )
    fig.add_scatter(
        x=[US * report.value(m, LATENCY) for m in others],
        y=[report.value(m, "accuracy") for m in others],
        mode="markers+text",
        text=others,
        textposition="top center",
        name="other models (slimmable widths, the full network alone)",
        marker={"size": 11, "symbol": "diamond", "color": plots.colour(1)},
    )
    title = "Early exit against one network at several widths"
    if _disturbed(report):
        title += "<br><sub>latencies disturbed by other programs: rerun the sweep on a quiet machine</sub>"
    fig.update_layout(
        title=title,
        xaxis_title="latency per input, batch 1 (µs, measured)",
        yaxis_title="test accuracy (%)",
        height=420,
        margin={"t": 90},
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
    )
    return fig


def plot_exit_shares(report: Report, picked: str | None = None) -> go.Figure:
    """Return stacked bars: for each threshold, the share of the test inputs that left at each exit."""
    points = thresholds_of(report)
    fig = go.Figure()
    for i, metric in enumerate(_exits(report)):
        fig.add_bar(
            x=points,
            y=[report.value(p, metric) for p in points],
            name=metric.removesuffix(" share"),
            marker={"color": plots.colour(i), "line": {"width": [3 if p == picked else 0 for p in points]}},
        )
    fig.update_layout(
        barmode="stack",
        title="Where the inputs leave: the higher the threshold, the deeper they go",
        xaxis_title="threshold",
        yaxis_title="share of test inputs (%)",
        height=340,
        legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"},
        margin={"t": 90},
    )
    return fig


def describe(report: Report, point: str) -> str:
    """Return one sentence on ``point``: its accuracy, where its inputs leave, and its measured latency."""
    shares = ", ".join(f"{report.value(point, m):.0f} % at {m.removesuffix(' share')}" for m in _exits(report))
    full = report.value("full network", LATENCY) if "full network" in report.models() else None
    latency = human(report.value(point, LATENCY), "ms")
    if full and not _disturbed(report):
        latency += f" per input, {report.value(point, LATENCY) / full:.2f}x the full network's (measured)"
    elif full:
        latency += " per input (disturbed by other programs: the comparison is not measurable now)"
    return f"threshold {point[2:]}: accuracy {report.value(point, 'accuracy'):.1f} %; {shares}; {latency}"


class ThresholdExplorer(Explorer):
    """Move the threshold: the sweep's point is highlighted on the trade-off and the exit shares (nothing reruns)."""

    def __init__(self, report: Report):
        self.report, points = report, thresholds_of(report)
        if not points:
            raise ValueError("the report has no early-exit thresholds: pass the Report early_exit.sweep returned")
        self.threshold = w.SelectionSlider(
            options=points,
            value="t=0.9" if "t=0.9" in points else points[len(points) // 2],
            description="threshold",
            continuous_update=False,  # redraw when the handle is released, not at every step
            style=FULL_LABEL,
            layout=w.Layout(width="480px"),
        )
        self.result: str | None = None
        self.layout(self.threshold)

    def run(self) -> str:
        """Redraw for the chosen threshold and return its summary sentence (read from the precomputed sweep)."""
        point = self.threshold.value
        self.result = self.summary.value = describe(self.report, point)
        self.redraw(plot_tradeoff(self.report, point), plot_exit_shares(self.report, point))
        return self.result

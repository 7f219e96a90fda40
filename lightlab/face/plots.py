"""Plotly figures drawn from Reports: bar panels per metric and accuracy-vs-cost trade-offs."""

from __future__ import annotations

import math
import textwrap

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lightlab.measurement.report import Report
from lightlab.measurement.units import readable

DEFAULT_METRICS = ["accuracy", "size", "latency_p50_b1", "energy_per_inference"]


def report_bars(report: Report, metrics: list[str] | None = None, log: bool = True) -> go.Figure:
    """Return one bar panel per metric with one bar per model; costs on a log axis, methods in the hover."""
    have = {r["metric"] for r in report.rows}
    metrics = [m for m in (metrics or DEFAULT_METRICS) if m in have] or sorted(have)[:4]
    models = report.models()
    units = {r["metric"]: r["unit"] for r in report.rows}
    # The unit goes in the panel title: a y-axis title would sit over the neighbouring panel's bars.
    titles = [_wrap(f"{readable(m)} ({units[m]})" if units[m] not in ("count", "") else readable(m)) for m in metrics]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=titles)
    for col, metric in enumerate(metrics, start=1):
        rows = {r["model"]: r for r in report.rows if r["metric"] == metric}
        names = [m for m in models if m in rows]
        values = [rows[m]["value"] for m in names]
        # The spread (IQR) drawn as half above, half below, never below zero (a log axis cannot show it).
        half = [(rows[m].get("spread") or 0) / 2 for m in names]
        fig.add_bar(
            x=names,
            y=values,
            row=1,
            col=col,
            showlegend=False,
            marker_color=[colour(i) for i in range(len(names))],
            error_y={
                "type": "data",
                "array": half,
                "arrayminus": [min(h, 0.9 * v) for h, v in zip(half, values, strict=True)],
            },
            hovertext=[f"{rows[m]['unit']} · {rows[m]['method']}" for m in names],
        )
        is_cost = metric != "accuracy" and all(v > 0 for v in values if not math.isnan(v))
        fig.update_yaxes(type="log" if (log and is_cost) else "linear", row=1, col=col)
    lines = max(t.count("<br>") + 1 for t in titles)
    fig.update_layout(height=360, margin={"t": 30 + 20 * lines, "b": 40, "l": 50, "r": 20})
    return fig


def tradeoff(report: Report, x: str = "latency_p50_b1", y: str = "accuracy", log_x: bool = True) -> go.Figure:
    """Return a scatter of ``y`` against ``x``, one labelled point per model."""
    models = [
        m
        for m in report.models()
        if any(r["model"] == m and r["metric"] == x for r in report.rows)
        and any(r["model"] == m and r["metric"] == y for r in report.rows)
    ]
    fig = go.Figure(
        go.Scatter(
            x=[report.value(m, x) for m in models],
            y=[report.value(m, y) for m in models],
            mode="markers+text",
            text=models,
            textposition="top center",
            marker={"size": 12, "color": [colour(i) for i in range(len(models))]},
        )
    )
    units = {r["metric"]: r["unit"] for r in report.rows}
    fig.update_layout(
        xaxis_title=f"{readable(x)} ({units.get(x, '')})",
        yaxis_title=f"{readable(y)} ({units.get(y, '')})",
        height=380,
        xaxis_type="log" if log_x else "linear",
    )
    return fig


def colour(i: int) -> str:
    """Return the i-th colour of LightLab's palette (the same model keeps its colour across charts)."""
    palette = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3"]
    return palette[i % len(palette)]


def _wrap(title: str, width: int = 24) -> str:
    """Return ``title`` in lines of at most ``width`` characters, so side-by-side panel titles never collide."""
    return "<br>".join(textwrap.wrap(title, width))

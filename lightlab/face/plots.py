"""Plotly figures drawn from Reports: bar panels per metric and accuracy-vs-cost trade-offs."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lightlab.measurement.report import Report

DEFAULT_METRICS = ["accuracy", "size", "latency_p50_b1", "energy_per_inference"]


def report_bars(report: Report, metrics: list[str] | None = None, log: bool = True) -> go.Figure:
    """Return one bar panel per metric with one bar per model; costs on a log axis, methods in the hover."""
    have = {r["metric"] for r in report.rows}
    metrics = [m for m in (metrics or DEFAULT_METRICS) if m in have] or sorted(have)[:4]
    models = report.models()
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics)
    for col, metric in enumerate(metrics, start=1):
        rows = {r["model"]: r for r in report.rows if r["metric"] == metric}
        names = [m for m in models if m in rows]
        values = [rows[m]["value"] for m in names]
        fig.add_bar(
            x=names,
            y=values,
            row=1,
            col=col,
            showlegend=False,
            marker_color=[_colour(i) for i in range(len(names))],
            error_y={"type": "data", "array": [rows[m].get("spread") or 0 for m in names]},
            hovertext=[f"{rows[m]['unit']} · {rows[m]['method']}" for m in names],
        )
        unit = rows[names[0]]["unit"] if names else ""
        is_cost = metric != "accuracy" and all(v > 0 for v in values if not math.isnan(v))
        fig.update_yaxes(title_text=unit, type="log" if (log and is_cost) else "linear", row=1, col=col)
    fig.update_layout(height=360, margin={"t": 50, "b": 40, "l": 50, "r": 20})
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
            marker={"size": 12, "color": [_colour(i) for i in range(len(models))]},
        )
    )
    fig.update_layout(xaxis_title=x, yaxis_title=y, height=380, xaxis_type="log" if log_x else "linear")
    return fig


def _colour(i: int) -> str:
    palette = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3"]
    return palette[i % len(palette)]

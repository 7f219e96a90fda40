"""Plotly figures drawn from Reports: bar panels per metric and accuracy-vs-cost trade-offs.

A panel of energy (or of what is computed from it: battery days, CO2e) says in its title how its numbers were
obtained, read from the rows' method: "measured (RAPL)", "estimated (CodeCarbon)" or "modelled (PROFILE, SOURCE)".
"""

from __future__ import annotations

import math
import re
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
    # Narrower lines with more panels: side-by-side titles must not run into each other (about 86 characters share
    # the default 800 px width).
    width = max(16, min(24, 86 // len(metrics)))
    titles = [_wrap(_title(m, units[m], [r for r in report.rows if r["metric"] == m]), width) for m in metrics]
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


_METHOD = re.compile(r"\b(measured|estimated|modelled) \(([^()]*)\)")
_ENERGY_WORDS = ("energy", "battery", "co2e")


def method_head(method: str) -> str | None:
    """Return how an energy figure was obtained, from its row's method: 'estimated (CodeCarbon)', 'measured (RAPL)',
    'modelled (mcu)' (the profile; its source is in the hover); None when the method names none of the three."""
    found = _METHOD.search(method)
    if found is None:
        return None
    how, inside = found.groups()
    if "CodeCarbon" in inside:  # CodeCarbon's labels run long (TDP, RAM constant): the panel keeps the source only
        inside = "CodeCarbon" if how == "estimated" else inside.split(" via ")[0]
    elif how == "modelled":  # "modelled (mcu, nRF52840 ...)": the profile names it; the hover gives the source
        inside = inside.split(",")[0]
    return f"{how} ({inside})"


def _title(metric: str, unit: str, rows: list[dict]) -> str:
    """Return a panel title: the metric in words, the unit and, for an energy figure, how it was obtained."""
    name = readable(metric)
    how = None
    if any(word in metric.lower() for word in _ENERGY_WORDS):
        heads = {method_head(r["method"]) for r in rows}
        words = {h.split(" (")[0] for h in heads if h}
        if len(heads) == 1 and None not in heads:
            how = heads.pop()
        else:  # e.g. models priced on different device profiles
            one = len(words) == 1 and None not in heads
            how = f"{words.pop()} (differs by bar: see hover)" if one else "methods differ: see hover"
        name = re.sub(r"\s*\((estimated|modelled|measured)[^)]*\)$", "", name)  # the method replaces it
    title = f"{name} ({unit})" if unit not in ("count", "") else name
    return f"{title}, {how}" if how else title


def colour(i: int) -> str:
    """Return the i-th colour of LightLab's palette (the same model keeps its colour across charts)."""
    palette = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3"]
    return palette[i % len(palette)]


def _wrap(title: str, width: int = 24) -> str:
    """Return ``title`` in lines of at most ``width`` characters, so side-by-side panel titles never collide."""
    return "<br>".join(textwrap.wrap(title, width))

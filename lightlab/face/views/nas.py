"""The face of NAS: the search's accuracy-latency figure with its Pareto front, the latency table checked against
whole models, and ``NasExplorer``, which filters an already-run search by budget."""

from __future__ import annotations

import math

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lightlab.face.widgets import Explorer, slider
from lightlab.measurement.report import Report
from lightlab.techniques.nas import SearchBudget, SearchResult, pareto

_LEGEND_ON_TOP = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}


def _params_colorbar(params: pd.Series) -> dict:
    """Return a colorbar for log10(params) ticked at 1, 2, 5 x 10^k written as plain counts (1,000, not 3)."""
    low, high = float(params.min()), float(params.max())
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    ticks = [m * 10**k for k in decades for m in (1, 2, 5) if low <= m * 10**k <= high] or [low, high]
    return {
        "title": {"text": "parameters"},
        "tickvals": [math.log10(t) for t in ticks],
        "ticktext": [f"{t:,.0f}" for t in ticks],
    }


def plot_search(
    result: SearchResult, references: Report | None = None, budget: SearchBudget | None = None
) -> go.Figure:
    """Return validation accuracy against predicted latency (colour: parameters) with the Pareto front drawn,
    reference models as stars (from a ``compare_with_references`` Report with latency_predicted, accuracy and
    params) and the latency budget as a dashed line."""
    trials, front = result.trials, pareto(result.trials).sort_values("latency_ms")
    colour = {"color": np.log10(trials.params), "colorscale": "Viridis", "colorbar": _params_colorbar(trials.params)}
    fig = go.Figure()
    fig.add_scatter(x=trials.latency_ms, y=100 * trials.val_accuracy, mode="markers", name="trained candidates")
    fig.update_traces(text=trials.name, marker={"size": 9, **colour})
    fig.add_scatter(
        x=front.latency_ms,
        y=100 * front.val_accuracy,
        mode="lines+markers",
        name="Pareto front",
        text=front.name,
        line={"color": "#EF553B", "shape": "hv"},
        marker={"size": 13, "symbol": "circle-open", "color": "#EF553B"},
    )
    for name in references.models() if references else []:
        fig.add_scatter(
            x=[references.value(name, "latency_predicted")],
            y=[references.value(name, "accuracy")],
            mode="markers+text",
            name=name,
            text=[name],
            textposition="top center",
            cliponaxis=False,  # a label above the top point stays whole
            marker={"size": 15, "symbol": "star"},
        )
    if budget and budget.latency_ms is not None:
        # A shape takes data units on a log axis but an annotation takes log10 units (plotly.js #1258): given the
        # raw latency, add_vline's annotation_text would land at 10**latency and stretch the axis to reach it.
        fig.add_vline(x=budget.latency_ms, line_dash="dash")
        fig.add_annotation(
            x=math.log10(budget.latency_ms),
            xref="x",
            y=0,
            yref="y domain",
            text="latency budget",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",  # at the foot of the line: the reference models' labels sit at the top
            bgcolor="rgba(255, 255, 255, 0.7)",
        )
    fig.update_layout(
        xaxis_title=f"predicted latency (ms, batch {result.table.batch}, {result.table.threads} threads)",
        yaxis_title="accuracy (%): validation for candidates",
        xaxis_type="log",
        height=440,
        margin={"t": 60, "b": 40},
        legend=_LEGEND_ON_TOP,  # a vertical legend would sit under the colorbar at the right edge
    )
    return fig


def plot_table_check(check: Report) -> go.Figure:
    """Return predicted against measured latency of the models of a ``check_table`` Report (log axes), the
    diagonal where prediction equals measurement, and the median error in the title."""
    metric = next(r["metric"] for r in check.rows if r["metric"].startswith("latency_p50"))
    names = check.models()
    measured = [check.value(n, metric) for n in names]
    predicted = [check.value(n, "latency_predicted") for n in names]
    error = float(np.median([check.value(n, "prediction_error") for n in names]))
    disturbed = bool(check.disturbed())
    ends = [min(measured + predicted), max(measured + predicted)]
    fig = go.Figure(go.Scatter(x=ends, y=ends, mode="lines", name="prediction = measurement", line={"dash": "dot"}))
    fig.add_scatter(x=measured, y=predicted, mode="markers", text=names, name="candidates", marker={"size": 10})
    fig.update_layout(
        title=f"Latency table against whole-model timing: median error {error:.0f} %"
        + (" (timings disturbed by other programs)" if disturbed else ""),
        xaxis={"title": "measured p50 latency, whole model (ms)", "type": "log"},
        yaxis={"title": "predicted latency, table (ms)", "type": "log"},
        height=400,
        margin={"t": 80},
        legend=_LEGEND_ON_TOP,
    )
    return fig


def _log_range(values: pd.Series, step: float) -> tuple[float, float]:
    """Return (low, high) log10 bounds of ``values`` rounded outwards to ``step``."""
    return (math.floor(math.log10(values.min()) / step) * step, math.ceil(math.log10(values.max()) / step) * step)


class NasExplorer(Explorer):
    """Filter an already-run search by budget: the sliders re-pick the best candidate and the front instantly."""

    def __init__(self, result: SearchResult, references: Report | None = None):
        self.search, self.references = result, references
        # Slider ends rounded outwards to the step, so that the loosest budget really keeps every candidate.
        lat, params = _log_range(result.trials.latency_ms, 0.05), _log_range(result.trials.params, 0.1)
        self.latency = slider(
            w.FloatLogSlider, "latency budget (ms)", 10 ** lat[1], lat[0], lat[1], 0.05, readout=".4f"
        )
        self.params = slider(
            w.FloatLogSlider, "parameter budget", 10 ** params[1], params[0], params[1], 0.1, readout=",.0f"
        )
        self.result: dict | None = None
        self.layout((self.latency, self.params))

    def run(self) -> dict:
        """Return {budget, feasible, front, best} for the sliders' budget and redraw the figure."""
        budget = SearchBudget(self.latency.value, int(self.params.value))
        trials = self.search.trials
        feasible = trials[[budget.allows(a, b) for a, b in zip(trials.latency_ms, trials.params, strict=True)]]
        best = self.search.best(budget) if not feasible.empty else None
        self.result = {"budget": budget, "feasible": len(feasible), "front": pareto(feasible), "best": best}
        self.redraw(plot_search(self.search, self.references, budget))
        self.summary.value = (
            f"{len(feasible)} of {len(trials)} trained candidates fit; best on validation: {best}"
            if best
            else "no trained candidate fits this budget"
        )
        return self.result

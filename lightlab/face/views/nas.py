"""The face of NAS: the search's accuracy-latency figure (one colour per block family, the Pareto front, the part
of it within a budget, the zoo models as stars), the latency table checked against whole models, and
``NasExplorer``, which filters an already-run search's front by budget."""

from __future__ import annotations

import math

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lightlab.face.widgets import Explorer, slider
from lightlab.measurement.report import Report
from lightlab.techniques.nas import SearchBudget, SearchResult, within

_LEGEND_ON_TOP = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"}
FAMILIES = {  # one colour per block family, the same in every figure
    "mlp": "#636EFA",
    "conv": "#00CC96",
    "dwsep": "#AB63FA",
    "inverted": "#FFA15A",
    "inverted_se": "#19D3F3",
    "mixed": "#8C8C8C",
}


def _sizes(params: pd.Series) -> np.ndarray:
    """Return marker sizes growing with log10(parameters): 6 px for 100 parameters, 22 px for 1,000,000."""
    return np.clip(6 + 4 * (np.log10(params.to_numpy(float).clip(1)) - 2), 5, 24)


def plot_search(
    result: SearchResult, references: Report | None = None, budget: SearchBudget | None = None
) -> go.Figure:
    """Return validation accuracy against predicted latency, one colour per block family (size: parameters), the
    unbudgeted Pareto front ringed, the front within ``budget`` marked and its latency limit dashed, and reference
    models as stars (from a ``compare_with_references`` Report with latency_predicted, accuracy and params)."""
    trials, front = result.trials, result.front()
    fig = go.Figure()
    for family, colour in FAMILIES.items():
        part = trials[trials.family == family]
        if not part.empty:
            fig.add_scatter(
                x=part.latency_ms,
                y=100 * part.val_accuracy,
                mode="markers",
                name=family,
                text=[f"{n}<br>{p:,} parameters" for n, p in zip(part.name, part.params, strict=True)],
                marker={"size": _sizes(part.params), "color": colour, "opacity": 0.8},
            )
    fig.add_scatter(
        x=front.latency_ms,
        y=100 * front.val_accuracy,
        mode="markers",
        name="Pareto front (accuracy, latency, parameters)",
        text=front.name,
        marker={"size": _sizes(front.params) + 8, "symbol": "circle-open", "color": "#EF553B", "line": {"width": 2}},
    )
    if budget is not None:
        fits = within(front, budget)
        fig.add_scatter(
            x=fits.latency_ms,
            y=100 * fits.val_accuracy,
            mode="markers",
            name="front within the budget",
            text=fits.name,
            marker={"size": _sizes(fits.params) + 14, "symbol": "diamond-open", "color": "black"},
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
    if budget is not None and budget.latency_ms is not None:
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
        title=f"{len(trials)} trained candidates, {len(front)} on the Pareto front (ringed)"
        + ("" if budget is None else f", {len(within(front, budget))} of them within the budget"),
        xaxis_title=f"predicted latency (ms, batch {result.table.batch}, {result.table.threads} threads)",
        yaxis_title="accuracy (%): validation for candidates",
        xaxis_type="log",
        height=460,
        margin={"t": 110, "b": 40},
        legend=_LEGEND_ON_TOP,
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
    """Filter an already-run search's front by budget: the sliders re-pick the winner instantly (no training)."""

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
        """Return {budget, front, fits, best} for the sliders' budget and redraw the figure."""
        budget = SearchBudget(self.latency.value, int(self.params.value))
        front = self.search.front()
        fits = within(front, budget)
        best = self.search.best(budget) if not fits.empty else None
        self.result = {"budget": budget, "front": front, "fits": fits, "best": best}
        self.redraw(plot_search(self.search, self.references, budget))
        self.summary.value = (
            f"{len(fits)} of the front's {len(front)} points fit; the winner (best on validation): {best}"
            if best
            else "no point of the front fits this budget"
        )
        return self.result

"""Pictures and knobs for anomaly alarms on the plant floor (notebook 13): the alarm curves and their explorer."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from lightlab.applications.anomaly import (
    ASSUMED_READINGS_PER_SECOND,
    alarm_rates,
    anomaly_scores,
    per_day,
    threshold_curve,
)
from lightlab.data.tasks import Task
from lightlab.face.widgets import FULL_LABEL, Explorer, slider
from lightlab.measurement.units import human


def plot_alarm_curves(curve: dict, threshold: float | None = None) -> go.Figure:
    """Return rates (top) and per-day counts and cost (bottom, log) of a ``threshold_curve``, ``threshold`` marked."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for key, row in (
        ("sensitivity", 1),
        ("specificity", 1),
        ("false_alarms_per_day", 2),
        ("missed_per_day", 2),
        ("cost_per_day", 2),
    ):
        # A log axis cannot show zero: plot zeros as gaps.
        y = 100 * curve[key] if row == 1 else np.where(curve[key] > 0, curve[key], np.nan)
        fig.add_scatter(x=curve["threshold"], y=y, name=key.replace("_", " "), row=row, col=1)
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="grey")
    fig.update_yaxes(title_text="%", row=1, col=1)
    fig.update_yaxes(title_text="per day (assumed rate, €)", type="log", row=2, col=1)
    fig.update_xaxes(title_text="alarm threshold on the anomaly score", row=2, col=1)
    fig.update_layout(height=520, margin={"t": 30, "b": 40, "l": 60, "r": 20})
    return fig


class AlarmExplorer(Explorer):
    """Move the alarm threshold on a model's anomaly score: caught anomalies, false alarms a day, daily cost."""

    def __init__(self, models: dict[str, nn.Module], task: Task, split: str = "val"):
        self.task, self.split = task, split
        # Scores are computed once per model; moving a control only re-counts alarms.
        self.scores = {name: anomaly_scores(model, task, split) for name, model in models.items()}
        self.model = w.Dropdown(options=list(models), description="model")
        # Wide: about 200 steps between the scores' 0.5th and 99.5th percentiles, each one reachable.
        self.threshold = w.FloatSlider(
            description="alarm threshold",
            continuous_update=False,
            readout_format=".3g",
            style=FULL_LABEL,
            layout=w.Layout(width="640px"),
        )
        self.rate = slider(w.FloatLogSlider, "readings a second", ASSUMED_READINGS_PER_SECOND, -2, 2)
        self.cost_false = slider(w.FloatLogSlider, "€ per false alarm", 50, 0, 4, readout=",.0f", width=380)
        self.cost_missed = slider(
            w.FloatLogSlider, "€ per missed anomalous reading", 5000, 1, 6, readout=",.0f", width=460
        )
        self.result: dict | None = None
        self.runs, self._moving = 0, False  # _moving: the slider is being refitted, do not rerun on each step
        self._fit_slider()
        # Observed before layout() wires the controls: a new model refits the slider, then reruns once.
        self.model.observe(lambda _change: self._fit_slider(), names="value")
        note = w.HTML("<i>readings a second and both costs are assumptions about a site, not measurements</i>")
        # Several facts in one line need HTML (a Label shows no bold); in a Box, so its changes rerun nothing.
        self.layout((self.model, self.rate), self.threshold, (self.cost_false, self.cost_missed), note, summary="html")

    def _fit_slider(self) -> None:
        """Set the threshold slider to the chosen model's score range, at its own decision (0)."""
        _, scores = self.scores[self.model.value]
        low, high = (float(v) for v in np.percentile(scores, [0.5, 99.5]))
        self._moving = True
        try:
            self.threshold.min, self.threshold.max = -1e9, 1e9  # widen first: min may never exceed max
            self.threshold.min, self.threshold.max = low, high
            self.threshold.step = (high - low) / 200
            self.threshold.value = min(max(0.0, low), high)
        finally:
            self._moving = False

    def run(self) -> dict | None:
        """Count alarms at the current threshold, redraw the curves and return the rates and per-day figures."""
        if self._moving:  # the slider is being refitted to another model: run once when it is done
            return self.result
        labels, scores = self.scores[self.model.value]
        args = (self.rate.value, self.cost_false.value, self.cost_missed.value)
        rates = alarm_rates(labels, scores, self.threshold.value)
        self.result = {**rates, **per_day(rates, *args), "threshold": self.threshold.value}
        self.runs += 1
        self.redraw(plot_alarm_curves(threshold_curve(labels, scores, *args), self.threshold.value))
        r = self.result
        self.summary.value = (
            f"<b>{self.model.value}</b> at threshold {r['threshold']:.3g} ({self.split} split): "
            f"catches {r['sensitivity']:.2%} of anomalous readings, leaves {r['specificity']:.3%} "
            f"of normal ones alone → {human(r['false_alarms_per_day'], 'false alarms')} and "
            f"{human(r['missed_per_day'], 'missed anomalous readings')} a day at {self.rate.value:.3g} "
            f"reading(s) a second (assumed); cost €{human(r['cost_per_day'], '')} a day (assumed prices)"
        )
        return self.result

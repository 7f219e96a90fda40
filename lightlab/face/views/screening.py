"""Pictures and knobs for heart-rhythm screening (notebook 12): example windows and the alarm-threshold explorer."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from lightlab.applications.screening import add_screening_rows, arrhythmia_scores, operating_point, roc
from lightlab.data.ecg import RATE, RHYTHMS, WINDOW, patients
from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import Explorer, slider
from lightlab.measurement.report import Report
from lightlab.measurement.units import human


def plot_rhythm_examples(task: Task, split: str = "test", patient: int | None = None) -> go.Figure:
    """Return one window of each rhythm from one (by default the first) patient of ``split``, in mV."""
    x, y = task.splits[split].tensors
    who = patients(task, split)
    patient = int(who[0]) if patient is None else patient
    fig = make_subplots(
        rows=len(RHYTHMS),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[f"{name} (synthetic patient {patient})" for name in RHYTHMS],
        vertical_spacing=0.08,
    )
    t = np.arange(WINDOW) / RATE
    for k in range(len(RHYTHMS)):
        i = int(np.flatnonzero((who == patient) & (y.numpy() == k))[0])
        fig.add_scatter(x=t, y=x[i, 0].numpy(), row=k + 1, col=1, showlegend=False, line={"width": 1.2})
        fig.update_yaxes(title_text="mV", row=k + 1, col=1)
    fig.update_xaxes(title_text="seconds", row=len(RHYTHMS), col=1)
    fig.update_layout(height=560, margin={"t": 40, "b": 40, "l": 50, "r": 20})
    return fig


class ThresholdExplorer(Explorer):
    """Move the alarm threshold: sensitivity against specificity, and false alarms a day, for each model."""

    def __init__(self, models: dict[str, nn.Module], task: Task, split: str = "test"):
        self.models, self.task, self.split = models, task, split
        # Probabilities are computed once per model; moving the slider only re-counts alarms.
        self.scores = {name: arrhythmia_scores(model, task, split) for name, model in models.items()}
        self.curves = {name: roc(*s) for name, s in self.scores.items()}
        # Wide enough that each of the 98 steps of 0.01 can be reached with the mouse.
        self.threshold = slider(w.FloatSlider, "alarm when P(arrhythmia) ≥", 0.5, 0.01, 0.99, 0.01, width=640)
        self.result: Report | None = None
        self.runs = 0
        # One line per model needs HTML (a Label shows no line break); in a Box, so its changes rerun nothing.
        self.layout(self.threshold, summary="html")

    def run(self) -> Report:
        """Count alarms at the current threshold for every model, redraw the curves, return the Report."""
        t = self.threshold.value
        report = Report()
        how = f"{self.split} split, synthetic, alarm when P(arrhythmia) >= {t:.2f}"
        fig = go.Figure()
        lines = []
        for i, (name, (truth, scores)) in enumerate(self.scores.items()):
            point, curve = operating_point(truth, scores, t), self.curves[name]
            add_screening_rows(report, name, point, how)
            alarms = report.value(name, "false_alarms_per_day")
            colour = plots.colour(i)
            fig.add_scatter(
                x=curve["false_alarm_rate"],
                y=curve["sensitivity"],
                mode="lines",
                line_color=colour,
                name=f"{name} (area {curve['auc']:.3f})",
            )
            fig.add_scatter(
                x=[1 - point["specificity"]],
                y=[point["sensitivity"]],
                mode="markers",
                marker={"size": 12, "color": colour},
                showlegend=False,
            )
            lines.append(
                f"<b>{name}</b>: catches {point['sensitivity']:.1%} of arrhythmic windows, "
                f"misses {1 - point['sensitivity']:.1%}; {1 - point['specificity']:.1%} of normal windows "
                f"raise an alarm = {human(alarms, 'false alarms')} a day"
            )
        # Zoom on the part of the curves a log axis shows (false-alarm rates from 0.06 % to 100 %).
        low = min(c["sensitivity"][c["false_alarm_rate"] >= 10**-3.2].min() for c in self.curves.values())
        fig.update_layout(
            xaxis_title="false-alarm rate (1 - specificity)",
            yaxis_title="sensitivity",
            height=400,
            xaxis_type="log",
            xaxis_range=[-3.2, 0],
            yaxis_range=[max(0.0, low - 0.02), 1.01],
            margin={"t": 30, "b": 40},
        )
        self.result, self.runs = report, self.runs + 1
        self.redraw(fig)
        self.summary.value = "<br>".join(lines)
        return report

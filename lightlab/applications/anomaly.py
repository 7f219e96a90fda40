"""Anomaly detection on the plant floor: a classical baseline, alarm thresholds, and what they cost per day.

``isolation_forest(task)`` fits scikit-learn's IsolationForest without labels and wraps it like a model
(``detector(x) -> [batch, 2]`` scores for normal / anomaly), so ``ll.train.evaluate`` and ``ll.measure.latency``
take it as they take a network. Every model's *anomaly score* is ``logit[anomaly] - logit[normal]``: an alarm
rings when it exceeds a threshold (0 = the model's own decision). Figures that depend on the site (readings per
second, network round trips, the cost of a false alarm) are ASSUMED and labelled so wherever they appear.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from sklearn.ensemble import IsolationForest
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face.widgets import Explorer
from lightlab.measurement import energy, metrics
from lightlab.measurement.measure import count_params, environment, latency, serialized_size
from lightlab.measurement.report import Report

SECONDS_PER_DAY = 86_400
# Assumed, not measured: the data set gives no sampling rate; one reading of the 9 sensors a second.
ASSUMED_READINGS_PER_SECOND = 1.0
# Assumed typical network round trips (ms), not measured here: a wired plant LAN, a cloud region reached
# over fibre, over 4G cellular, and over a geostationary satellite link (36,000 km up and down, twice).
ASSUMED_RTT_MS = {
    "gateway on the plant LAN": 0.5,
    "cloud, wired internet": 30.0,
    "cloud, 4G cellular": 70.0,
    "cloud, GEO satellite": 600.0,
}
FIT_ON = ("all", "normal")


@dataclass
class ForestConfig:
    """How to fit the IsolationForest: trees, rows per tree, expected anomaly share, which training rows."""

    n_estimators: int = 100
    max_samples: int = 256
    contamination: float | None = None  # None: the anomaly share of the training split (stated in the method)
    fit_on: str = "all"  # "all" training rows (labels unused) or only the "normal" ones
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fit_on not in FIT_ON:
            raise ValueError(f"unknown fit_on {self.fit_on!r}; valid: {', '.join(map(repr, FIT_ON))}")
        if self.n_estimators < 1 or self.max_samples < 2:
            raise ValueError(
                f"need n_estimators >= 1 and max_samples >= 2, got {self.n_estimators} and {self.max_samples}"
            )
        if self.contamination is not None and not 0 < self.contamination <= 0.5:
            raise ValueError(
                f"contamination is the expected share of anomalies, in (0, 0.5]; got "
                f"{self.contamination} (pass None to use the training split's share)"
            )


class ForestDetector(nn.Module):
    """An IsolationForest used like a model: ``detector(x)`` gives [batch, 2] logits-like scores."""

    def __init__(self, forest: IsolationForest, method: str):
        super().__init__()
        self.forest, self.method = forest, method
        # The pickled forest as a buffer: torch.save(state_dict) then weighs what the pickle weighs.
        self.register_buffer("pickled", torch.frombuffer(bytearray(pickle.dumps(forest)), dtype=torch.uint8))

    @property
    def nodes(self) -> int:
        """Return the number of tree nodes (each holds a feature, a threshold and two child links)."""
        return sum(tree.tree_.node_count for tree in self.forest.estimators_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return [batch, 2]: column 0 is zero, column 1 the anomaly margin (> 0 means an anomaly)."""
        margin = -self.forest.decision_function(x.detach().numpy())  # sklearn: negative = anomalous
        margin = torch.from_numpy(margin.astype(np.float32))
        return torch.stack([torch.zeros_like(margin), margin], dim=1)


def isolation_forest(task: Task, config: ForestConfig | None = None) -> ForestDetector:
    """Return an IsolationForest fitted on ``task``'s training rows (without their labels), wrapped as a model."""
    config = config or ForestConfig()
    x, y = (t.numpy() for t in task.splits["train"].tensors)
    positive = _positive(task)
    share = float((y == positive).mean())
    contamination = config.contamination if config.contamination is not None else share
    rows = x if config.fit_on == "all" else x[y != positive]
    forest = IsolationForest(
        n_estimators=config.n_estimators,
        max_samples=min(config.max_samples, len(rows)),
        contamination=contamination,
        random_state=config.seed,
    ).fit(rows)
    rows_used = (
        f"without labels on all {len(rows):,} training rows"
        if config.fit_on == "all"
        else f"on the {len(rows):,} normal training rows (labels used only to pick them)"
    )
    method = (
        f"IsolationForest, {config.n_estimators} trees of {forest.max_samples_} rows, fitted {rows_used}; "
        f"contamination {contamination:.4f}"
        + (" (the training split's anomaly share)" if config.contamination is None else "")
    )
    return ForestDetector(forest, method).eval()


def _positive(task: Task) -> int:
    """Return the index of the class a detector must catch."""
    if task.positive is None or task.num_classes != 2:
        raise ValueError(
            f"task {task.name!r} is not a two-class detection task with a positive class "
            f"(Task.positive={task.positive!r}, {task.num_classes} classes): anomaly scores need one"
        )
    return task.classes.index(task.positive)


@torch.inference_mode()
def anomaly_scores(model: nn.Module, task: Task, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Return (labels as 0 normal / 1 anomaly, scores = logit[anomaly] - logit[normal]) over ``split``."""
    positive = _positive(task)
    model.eval()
    ys, ss = [], []
    for x, y in task.loader(split, batch_size=2048):
        logits = model(x)
        ss.append(logits[:, positive] - logits[:, 1 - positive])
        ys.append(y == positive)
    return torch.cat(ys).numpy().astype(np.int64), torch.cat(ss).numpy()


def alarm_rates(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.0) -> dict[str, float]:
    """Return sensitivity, specificity, precision, balanced accuracy and counts when alarming at score > threshold."""
    cm = metrics.confusion(labels, scores > threshold, 2)
    return {
        **metrics.binary(cm, 1),
        "balanced_accuracy": metrics.balanced_accuracy(cm),
        "alarms": int(cm[:, 1].sum()),
        "false_alarms": int(cm[0, 1]),
        "missed": int(cm[1, 0]),
        "normal_share": float(cm[0].sum() / cm.sum()),
    }


def false_alarms_per_day(
    specificity: float, readings_per_second: float = ASSUMED_READINGS_PER_SECOND, normal_share: float = 1.0
) -> float:
    """Return expected false alarms a day: normal readings a day x the share of them wrongly flagged."""
    return (1 - specificity) * normal_share * readings_per_second * SECONDS_PER_DAY


def per_day(
    rates: dict[str, float],
    readings_per_second: float = ASSUMED_READINGS_PER_SECOND,
    cost_false_alarm: float = 0.0,
    cost_missed: float = 0.0,
) -> dict[str, float]:
    """Return false alarms, missed anomalous readings and their cost a day, at the split's anomaly share."""
    readings = readings_per_second * SECONDS_PER_DAY
    false = false_alarms_per_day(rates["specificity"], readings_per_second, rates["normal_share"])
    missed = (1 - rates["sensitivity"]) * (1 - rates["normal_share"]) * readings
    return {
        "false_alarms_per_day": false,
        "missed_per_day": missed,
        "cost_per_day": false * cost_false_alarm + missed * cost_missed,
    }


def compare(
    models: dict[str, nn.Module], task: Task, energy_estimate: bool = False, repeats: int | None = None
) -> Report:
    """Return a Report: balanced accuracy, sensitivity, specificity, precision, size and batch-1 latency per model.

    Networks also get modelled energy (MACs and memory traffic); a forest has no MACs, so compare all models'
    energy with ``energy_estimate=True`` (CodeCarbon, labelled with its method).
    """
    report = Report(environment=environment())
    one = task.example(1)
    for name, model in models.items():
        labels, scores = anomaly_scores(model, task)
        rates = alarm_rates(labels, scores)
        where = f"test split of {task.name!r}, alarm at score > 0, {task.positive!r} is positive"
        for metric in ("balanced_accuracy", "sensitivity", "specificity", "precision"):
            report.add(name, metric, 100 * rates[metric], "%", where)
        if isinstance(model, ForestDetector):
            report.add(name, "params", model.nodes, "count", "tree nodes (a forest has no weights)")
        else:
            report.add(name, "params", count_params(model), "count", "sum of parameter elements")
            report.rows.append(energy.modelled_energy(model, one, name=name))
        report.add(
            name,
            "size",
            serialized_size(model),
            "bytes",
            "torch.save(state_dict) bytes" + (" (the pickled forest)" if isinstance(model, ForestDetector) else ""),
        )
        t = latency(model, one, repeats=repeats)
        report.add(name, "latency_p50_b1", t.p50, "ms", t.method, spread=t.iqr, note=t.note)
    if energy_estimate:
        report.rows.extend(energy.measure_energy(models, one, progress=False))
    return report


def response_times(inference_ms: dict[str, float], rtt_ms: dict[str, float] | None = None) -> Report:
    """Return the time from reading to answer per place: ASSUMED network round trip + MEASURED inference."""
    rtt_ms = rtt_ms or ASSUMED_RTT_MS
    report = Report(environment=environment())
    for place, rtt in rtt_ms.items():
        for model, ms in inference_ms.items():
            report.add(
                f"{model} @ {place}",
                "response_ms",
                rtt + ms,
                "ms",
                f"assumed round trip {rtt:g} ms (typical figure, not measured) + measured p50 inference "
                f"{ms:.3f} ms on this CPU",
            )
    return report


def threshold_curve(
    labels: np.ndarray,
    scores: np.ndarray,
    readings_per_second: float = ASSUMED_READINGS_PER_SECOND,
    cost_false_alarm: float = 0.0,
    cost_missed: float = 0.0,
    points: int = 201,
) -> dict:
    """Return {"threshold": array, and one array per rate and per-day figure} over the scores' useful range."""
    low, high = np.percentile(scores, [0.5, 99.5])
    curve: dict[str, list] = {"threshold": list(np.linspace(low, high, points))}
    for t in curve["threshold"]:
        rates = alarm_rates(labels, scores, t)
        for key, value in {**rates, **per_day(rates, readings_per_second, cost_false_alarm, cost_missed)}.items():
            curve.setdefault(key, []).append(value)
    return {key: np.asarray(values) for key, values in curve.items()}


class AlarmExplorer(Explorer):
    """Move the alarm threshold on a model's anomaly score: caught anomalies, false alarms a day, daily cost."""

    def __init__(self, models: dict[str, nn.Module], task: Task, split: str = "val"):
        self.task, self.split = task, split
        # Scores are computed once per model; moving a control only re-counts alarms.
        self.scores = {name: anomaly_scores(model, task, split) for name, model in models.items()}
        self.model = w.Dropdown(options=list(models), description="model")
        self.threshold = w.FloatSlider(description="threshold", continuous_update=False, readout_format=".3g")
        self.rate = w.FloatLogSlider(
            value=ASSUMED_READINGS_PER_SECOND, min=-2, max=2, description="readings/s", continuous_update=False
        )
        self.cost_false = w.FloatLogSlider(value=50, min=0, max=4, description="€ false alarm", continuous_update=False)
        self.cost_missed = w.FloatLogSlider(value=5000, min=1, max=6, description="€ missed", continuous_update=False)
        self.summary, self.output = w.HTML(), w.Output()
        self.result: dict | None = None
        self.runs, self._moving = 0, False  # _moving: the slider is being refitted, do not rerun on each step
        self._fit_slider()
        self.model.observe(lambda _change: (self._fit_slider(), self.run()), names="value")
        for control in (self.threshold, self.rate, self.cost_false, self.cost_missed):
            control.observe(lambda _change: None if self._moving else self.run(), names="value")
        note = w.HTML("<i>readings/s and both costs are assumptions about a site, not measurements</i>")
        self.widget = w.VBox(
            [
                w.HBox([self.model, self.threshold]),
                w.HBox([self.rate, self.cost_false, self.cost_missed]),
                note,
                self.summary,
                self.output,
            ]
        )

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

    def run(self) -> dict:
        """Count alarms at the current threshold, redraw the curves and return the rates and per-day figures."""
        labels, scores = self.scores[self.model.value]
        args = (self.rate.value, self.cost_false.value, self.cost_missed.value)
        rates = alarm_rates(labels, scores, self.threshold.value)
        self.result = {**rates, **per_day(rates, *args), "threshold": self.threshold.value}
        self.runs += 1
        self.redraw(self.figure(threshold_curve(labels, scores, *args)))
        r = self.result
        self.summary.value = (
            f"<b>{self.model.value}</b> at threshold {r['threshold']:.3g} ({self.split} split): "
            f"catches {r['sensitivity']:.2%} of anomalous readings, leaves {r['specificity']:.3%} "
            f"of normal ones alone → {r['false_alarms_per_day']:,.0f} false alarms and "
            f"{r['missed_per_day']:,.0f} missed anomalous readings a day at {self.rate.value:.3g} "
            f"reading(s) a second (assumed); cost €{r['cost_per_day']:,.0f} a day (assumed prices)"
        )
        return self.result

    def figure(self, curve: dict) -> go.Figure:
        """Return rates (top) and per-day counts and cost (bottom, log) against the threshold, current one marked."""
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
        fig.add_vline(x=self.threshold.value, line_dash="dash", line_color="grey")
        fig.update_yaxes(title_text="%", row=1, col=1)
        fig.update_yaxes(title_text="per day (assumed rate, €)", type="log", row=2, col=1)
        fig.update_xaxes(title_text="alarm threshold on the anomaly score", row=2, col=1)
        fig.update_layout(height=520, margin={"t": 30, "b": 40, "l": 60, "r": 20})
        return fig

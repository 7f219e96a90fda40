"""Anomaly detection on the plant floor: a classical baseline, alarm thresholds, and what they cost per day.

``isolation_forest(task)`` fits scikit-learn's IsolationForest without labels and wraps it like a model
(``detector(x) -> [batch, 2]`` scores for normal / anomaly), so ``ll.train.evaluate`` and ``ll.measure`` take it as
they take a network. Every model's *anomaly score* is ``logit[anomaly] - logit[normal]``: an alarm
rings when it exceeds a threshold (0 = the model's own decision). Figures that depend on the site (readings per
second, network round trips, the cost of a false alarm) are ASSUMED and labelled so wherever they appear.
The alarm explorer and its curves are ``ll.views.anomaly``.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.ensemble import IsolationForest
from torch import nn

from lightlab.data.tasks import Task
from lightlab.measurement import energy, measure, metrics
from lightlab.measurement.measure import count_params, environment, serialized_size
from lightlab.measurement.report import Report
from lightlab.measurement.units import human

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


def daily_false_alarms(
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
    false = daily_false_alarms(rates["specificity"], readings_per_second, rates["normal_share"])
    missed = (1 - rates["sensitivity"]) * (1 - rates["normal_share"]) * readings
    return {
        "false_alarms_per_day": false,
        "missed_per_day": missed,
        "cost_per_day": false * cost_false_alarm + missed * cost_missed,
    }


def compare_detectors(
    models: dict[str, nn.Module],
    task: Task,
    energy_estimate: bool = False,
    repeats: int | None = None,
    rounds: int | None = None,
    profile: str = "server",
) -> Report:
    """Return a Report: balanced accuracy, sensitivity, specificity, precision, size and batch-1 latency per model.

    The latencies are LightLab's one timing rule (``ll.measure.interleaved``: the models take turns for ``rounds``
    rounds and each keeps its best), so one busy moment of the machine cannot make one model look faster. Networks
    also get modelled energy on ``profile`` (default "server": a gateway is a small PC with DRAM; see
    ``ll.profiles``); a forest has no MACs, so compare all models' energy with ``energy_estimate=True`` (estimated
    by CodeCarbon, labelled with its method).
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
            report.extend([energy.modelled_energy(model, one, name=name, profile=profile)])
        report.add(
            name,
            "size",
            serialized_size(model),
            "bytes",
            "torch.save(state_dict) bytes" + (" (the pickled forest)" if isinstance(model, ForestDetector) else ""),
        )
    for name, t in measure.interleaved(models, one, rounds=rounds, repeats=repeats).items():
        measure.add_timing(report, name, t)
    if energy_estimate:  # the idle draw is already subtracted in the "above idle" rows' method, not a detector
        report.extend(r for r in energy.measure_energy(models, one, progress=False) if r["model"] != "idle")
    return report


def response_times(report: Report, models: list[str] | None = None, rtt_ms: dict[str, float] | None = None) -> Report:
    """Return the time from reading to answer per place: ASSUMED network round trip + MEASURED inference.

    The inference is each model's batch-1 p50 latency row of ``report`` (``compare_detectors``), with its method
    and its "disturbed" note; ``models`` picks some of them (default: all).
    """
    rtt_ms = rtt_ms or ASSUMED_RTT_MS
    rows = {
        m: next((r for r in report.rows if r["model"] == m and r["metric"] == "latency_p50_b1"), None)
        for m in models or report.models()
    }
    missing = [m for m, row in rows.items() if row is None]
    if missing:
        raise KeyError(f"no batch-1 latency for {', '.join(missing)} in the report; measure with compare_detectors")
    out = Report(environment=report.environment)
    for place, rtt in rtt_ms.items():
        for model, row in rows.items():
            out.add(
                f"{model} @ {place}",
                "response_time",
                rtt + row["value"],
                "ms",
                f"assumed round trip {rtt:g} ms (typical figure, not measured) + measured p50 inference "
                f"{human(row['value'], 'ms')} on this CPU ({row['method']})",
                note=row.get("note"),
            )
    return out


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

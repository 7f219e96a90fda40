"""Heart-rhythm screening on a wearable: the case study of notebook 12, built on the synthetic ``ecg`` task.

A screen asks "normal, or any arrhythmia?": ``screening_rates`` collapses a 3-class confusion matrix to that
question, ``arrhythmia_scores``, ``operating_point`` and ``roc`` move the alarm threshold, ``screening_report``
turns specificity into false alarms a day, ``ppv`` and ``ppv_report`` say how many alarms are real at the
prevalence of a screened population, and ``battery_report`` turns an energy per window into days on a cell.
The data are SYNTHETIC (``ll.ecg``): never for clinical use. The pictures and the threshold explorer are
``ll.views.screening``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lightlab.data.ecg import RATE, WINDOW
from lightlab.data.tasks import Task
from lightlab.measurement import metrics
from lightlab.measurement.report import Report
from lightlab.models.zoo import cnn1d

WINDOWS_PER_DAY = 86_400 / (WINDOW / RATE)  # continuous monitoring, one window after the other
# Each energy row of a Report -> the battery row it gives, named short enough for a chart's panel title.
BATTERY_ROWS = {
    "energy_per_inference": "battery_days (estimated)",
    "energy_above_idle_per_inference": "battery_days (above idle)",
    "energy_modelled_per_inference": "battery_days (modelled)",
}


def small_cnn(
    channels: tuple[int, ...] = (16, 32), kernel: int = 9, pool: int = 8, classes: int = 3, seed: int | None = 0
) -> nn.Sequential:
    """Return a wearable-sized 1-D CNN for ECG windows: (conv-ReLU-maxpool) per channel count, then one Linear."""
    return cnn1d((1, WINDOW), classes, channels, kernel, pool, hidden=0, seed=seed)


# --- Screening: normal versus any arrhythmia ---------------------------------------------------------------
def screening_rates(cm: np.ndarray) -> dict[str, float]:
    """Return sensitivity, specificity, precision, F1 of 'any arrhythmia' vs 'normal' from a 3-class confusion."""
    # An AF window called PVC is still flagged for a doctor: collapse to normal (0) vs arrhythmia (1) first.
    flagged = cm[:, 1:].sum(axis=1)
    two = np.array([[cm[0, 0], flagged[0]], [cm[1:, 0].sum(), flagged[1:].sum()]])
    return metrics.binary(two, positive=1)


def arrhythmia_scores(model: nn.Module, task: Task, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Return (True where the window is an arrhythmia, the model's probability that it is one) over ``split``."""
    model.eval()
    x, y = task.splits[split].tensors
    with torch.inference_mode():
        probs = torch.cat([torch.softmax(model(chunk), dim=1) for chunk in x.split(256)])
    return (y != 0).numpy(), 1 - probs[:, 0].numpy()


def operating_point(truth: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Return sensitivity and specificity when every window scoring >= ``threshold`` raises an alarm."""
    alarm = scores >= threshold
    return {"sensitivity": float(alarm[truth].mean()), "specificity": float((~alarm[~truth]).mean())}


def roc(truth: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Return thresholds with the sensitivity and false-alarm rate (1 - specificity) at each, and the area."""
    thresholds = np.unique(np.concatenate([[0.0, 1.0 + 1e-9], scores]))[::-1]
    alarms = scores[None, :] >= thresholds[:, None]
    sens, fpr = alarms[:, truth].mean(axis=1), alarms[:, ~truth].mean(axis=1)
    return {
        "threshold": thresholds,
        "sensitivity": sens,
        "false_alarm_rate": fpr,
        "auc": float(np.sum(np.diff(fpr) * (sens[1:] + sens[:-1]) / 2)),
    }


def add_screening_rows(report: Report, name: str, point: dict[str, float], how: str) -> Report:
    """Add a model's sensitivity and specificity (%) and the false alarms a day they imply to ``report``."""
    report.add(name, "sensitivity", 100 * point["sensitivity"], "%", how)
    report.add(name, "specificity", 100 * point["specificity"], "%", how)
    return report.add(
        name,
        "false_alarms_per_day",
        (1 - point["specificity"]) * WINDOWS_PER_DAY,
        "alarms",
        f"(1 - specificity) x {WINDOWS_PER_DAY:,.0f} windows a day of normal rhythm; {how}",
    )


def screening_report(models: dict[str, nn.Module], task: Task, split: str = "test") -> Report:
    """Return sensitivity, specificity and false alarms a day (argmax decision) of each model, as a Report."""
    report = Report()
    how = f"{split} split, {task.sizes()[split]} synthetic windows, normal vs any arrhythmia, argmax decision"
    for name, model in models.items():
        y, pred = metrics.predictions(model, task.loader(split, batch_size=256))
        add_screening_rows(report, name, screening_rates(metrics.confusion(y, pred, task.num_classes)), how)
    return report


# --- Positive predictive value: how many alarms are real, at the prevalence of the people screened -----------
# Atrial fibrillation affects 2-4 % of adults (Hindricks et al., 2020 ESC Guidelines for AF, Eur Heart J 2021), fewer
# among the younger people who wear watches: the Apple Heart Study (Perez et al., NEJM 2019) notified 0.52 % of its
# 419,297 participants of an irregular pulse. 1-2 % is a realistic share for a screening device.
SCREENING_PREVALENCES = (0.01, 0.02)


def ppv(sensitivity: float, specificity: float, prevalence: float) -> float:
    """Return the positive predictive value, P(arrhythmia | alarm), at ``prevalence`` by Bayes' rule."""
    for what, value in (("sensitivity", sensitivity), ("specificity", specificity)):
        if not 0 <= value <= 1:
            raise ValueError(f"{what} is a share in [0, 1], got {value} (pass 0.95, not 95)")
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence is a share in (0, 1), got {prevalence} (pass 0.01 for 1 %)")
    caught, false = sensitivity * prevalence, (1 - specificity) * (1 - prevalence)
    return caught / (caught + false) if caught + false > 0 else float("nan")


def ppv_report(
    models: dict[str, nn.Module],
    task: Task,
    prevalences: tuple[float, ...] = SCREENING_PREVALENCES,
    split: str = "test",
) -> Report:
    """Return each model's PPV (%) on ``split`` (its own mix of rhythms) and, by Bayes from the same sensitivity and
    specificity, at each of ``prevalences``."""
    report = Report()
    for name, model in models.items():
        y, pred = metrics.predictions(model, task.loader(split, batch_size=256))
        rates = screening_rates(metrics.confusion(y, pred, task.num_classes))
        share = float((y != 0).mean())
        how = f"{split} split, synthetic, argmax decision: alarms that are arrhythmic ({share:.0%} of its windows are)"
        report.add(name, "ppv_test_split", 100 * rates["precision"], "%", how)
        for p in prevalences:
            report.add(
                name,
                f"ppv_at_{100 * p:g}%_prevalence",
                100 * ppv(rates["sensitivity"], rates["specificity"], p),
                "%",
                f"Bayes: sens p / (sens p + (1 - spec)(1 - p)), p = {p:.0%}, sensitivity "
                f"{rates['sensitivity']:.1%} and specificity {rates['specificity']:.2%} on the {split} split",
            )
    return report


# --- Battery: energy per window x windows a day, against a wearable cell ------------------------------------
def battery_life_days(
    joules_per_window: float, capacity_mah: float = 200.0, volts: float = 3.7, windows_per_day: float = WINDOWS_PER_DAY
) -> float:
    """Return the days a full cell lasts if classifying windows were the only load (1 mAh = 3.6 coulombs)."""
    if not (capacity_mah > 0 and volts > 0 and joules_per_window > 0 and windows_per_day > 0):
        raise ValueError(
            f"need capacity_mah, volts, joules_per_window and windows_per_day all > 0; got "
            f"{capacity_mah}, {volts}, {joules_per_window}, {windows_per_day}"
        )
    return capacity_mah * 3.6 * volts / (joules_per_window * windows_per_day)


def battery_report(report: Report, capacity_mah: float = 200.0, volts: float = 3.7) -> Report:
    """Return, for every energy row of ``report``, the battery days it implies (``BATTERY_ROWS`` names the rows),
    carrying that row's method; an energy at or below zero gives no figure (NaN) and a note saying why."""
    days = Report(environment=report.environment)
    for r in report.rows:
        if r["metric"] not in BATTERY_ROWS or r["model"] == "idle":
            continue
        joules, note = r["value"], r.get("note")
        if not joules > 0:  # NaN (unavailable) or <= 0 (at or below the idle draw): no figure rather than a wrong one
            why = "unavailable" if joules != joules else "at or below the idle draw: below what the estimate resolves"
            why = f"no figure: the energy reads {joules:.3g} J, {why}"
            value, note = float("nan"), "; ".join(filter(None, (why, note)))
        else:
            value = battery_life_days(joules, capacity_mah, volts)
        days.add(
            r["model"],
            BATTERY_ROWS[r["metric"]],
            value,
            "days",
            f"{capacity_mah:g} mAh x {volts:g} V / ({joules:.3g} J per window x {WINDOWS_PER_DAY:,.0f} windows "
            f"a day); the J per window: {r['method']}",
            note=note,
        )
    return days

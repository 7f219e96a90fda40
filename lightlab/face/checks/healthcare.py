"""Checkers for notebook 12 (portable healthcare: ECG rhythm screening)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import number

# Rows = true rhythm, columns = predicted: normal, atrial fibrillation, premature ventricular beats.
# 5 AF windows called PVC and 4 PVC windows called AF were still flagged as arrhythmias.
_CM = np.array([[180, 12, 8], [10, 175, 5], [6, 4, 190]])
_SENS = (175 + 5 + 4 + 190) / (190 + 200)  # arrhythmic windows flagged (as either arrhythmia)
_SPEC = 180 / 200  # normal windows left alone


def screening(fn: Callable[[np.ndarray], tuple[float, float]]) -> str:
    """Check ``fn(cm)`` returns (sensitivity, specificity) of 'any arrhythmia' against 'normal' (class 0)."""
    what = "screening(cm) on a fixed 3x3 confusion matrix"
    got = fn(_CM.copy())
    if got is None:
        _fail(what, got, (round(_SENS, 4), round(_SPEC, 4)), "your function must `return` (sensitivity, specificity)")
    sens, spec = (float(v) for v in got)
    if math.isclose(sens, _SENS, abs_tol=1e-6) and math.isclose(spec, _SPEC, abs_tol=1e-6):
        return "correct: screening works"
    expected = (round(_SENS, 4), round(_SPEC, 4))
    strict = (175 + 190) / 390  # only the diagonal counted as caught
    if math.isclose(spec, _SENS, abs_tol=1e-6) and math.isclose(sens, _SPEC, abs_tol=1e-6):
        _fail(
            what,
            (round(sens, 4), round(spec, 4)),
            expected,
            "sensitivity and specificity are swapped: sensitivity is about the arrhythmic windows (rows 1 and 2), "
            "specificity about the normal ones (row 0)",
        )
    if math.isclose(sens, strict, abs_tol=1e-6):
        _fail(
            what,
            (round(sens, 4), round(spec, 4)),
            expected,
            "an AF window called 'PVC' still raises an alarm and reaches a doctor: for screening, count every "
            "arrhythmic window predicted as ANY arrhythmia (columns 1 and 2) as caught, not only the diagonal",
        )
    if math.isclose(sens, 180 / 200, abs_tol=1e-6) or math.isclose(spec, _SENS, abs_tol=1e-6):
        _fail(
            what,
            (round(sens, 4), round(spec, 4)),
            expected,
            "the condition to catch is 'any arrhythmia', not 'normal': sensitivity = flagged arrhythmic windows / "
            "all arrhythmic windows",
        )
    _fail(
        what,
        (round(sens, 4), round(spec, 4)),
        expected,
        "sensitivity = cm[1:, 1:].sum() / cm[1:].sum() (arrhythmias flagged as any arrhythmia); "
        "specificity = cm[0, 0] / cm[0].sum() (normal windows called normal)",
    )


def battery_days(fn: Callable[[float, float, float, float], float]) -> str:
    """Check ``fn(joules_per_window, capacity_mah, volts, windows_per_day)`` returns the days a cell lasts."""
    args = (2e-3, 200.0, 3.7, 21_000.0)
    expected = 200 * 3.6 * 3.7 / (2e-3 * 21_000)
    what = f"battery_days{args}"
    mistakes = {
        expected / 3.6: "mAh x volts gives milliwatt-hours, not joules: 1 mWh = 3.6 J, so the cell holds "
        "capacity_mah x 3.6 x volts joules",
        expected / 3600: "mAh / 1000 x volts gives watt-hours: 1 Wh = 3,600 J",
        expected / 3.7: "charge x voltage = energy: multiply the coulombs (mAh x 3.6) by the cell's volts",
        expected * 24: "that is hours: the answer is in days (divide the cell's joules by the joules used per day)",
    }
    return number(
        "battery_days",
        what,
        fn(*args),
        expected,
        mistakes,
        "days = (capacity_mah x 3.6 x volts) joules in the cell / (joules_per_window x windows_per_day)",
        returns="the number of days",
        digits=4,
    )

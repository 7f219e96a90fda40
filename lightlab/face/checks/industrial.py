"""Checkers for notebook 13 (industrial anomaly detection at the edge)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import number


def false_alarms_per_day(fn: Callable[[float, float, float], float]) -> str:
    """Check ``fn(specificity, readings_per_second, normal_share)`` returns expected false alarms a day."""
    spec, rate, share = 0.999, 2.0, 0.9
    expected = (1 - spec) * share * rate * 86_400
    what = f"false_alarms_per_day(specificity={spec}, readings_per_second={rate}, normal_share={share})"
    mistakes = {
        spec * share * rate * 86_400: "that is the number of normal readings left ALONE; false alarms come from "
        "the other ones: multiply by (1 - specificity)",
        (1 - spec) * rate * 86_400: "only normal readings can be false alarms: multiply by normal_share too",
        (1 - spec) * share * rate * 3_600: "that is per hour; a day has 24 x 3,600 = 86,400 seconds",
        (1 - spec) * share * rate * 1_440: "1,440 is minutes in a day; readings_per_second counts per SECOND, so "
        "use 86,400 seconds",
        (1 - spec) * share / rate * 86_400: "multiply by the sampling rate (more readings, more chances to ring), "
        "do not divide",
        100 * (1 - spec) * share * rate * 86_400: "specificity is a share in 0..1 here, not a percentage",
    }
    return number(
        "false_alarms_per_day",
        what,
        fn(spec, rate, share),
        expected,
        mistakes,
        "normal readings a day = readings_per_second x 86,400 x normal_share; a share (1 - specificity) "
        "of them rings the alarm",
        returns="the number of false alarms a day",
    )


# Ten readings, four anomalous (label 1). Alarms ring at score > threshold.
_LABELS = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
_SCORES = np.array([-3.0, -2.0, -1.5, -0.5, 0.4, 1.2, 0.1, 0.8, 2.0, 3.5])


def _counts(threshold: float) -> tuple[int, int]:
    """Return (anomalies caught, false alarms) on the fixed example at ``threshold``."""
    alarms = _SCORES > threshold
    return int((alarms & (_LABELS == 1)).sum()), int((alarms & (_LABELS == 0)).sum())


def pick_threshold(fn: Callable[[np.ndarray, np.ndarray, float], float]) -> str:
    """Check ``fn(labels, scores, min_sensitivity)`` catches that share of anomalies with the fewest false alarms."""
    anomalies = int(_LABELS.sum())
    for target in (0.75, 1.0, 0.5):
        k = math.ceil(target * anomalies)
        kth = np.sort(_SCORES[_LABELS == 1])[::-1][k - 1]
        best_false = _counts(np.nextafter(kth, -np.inf))[1]
        what = (
            f"pick_threshold(labels, scores, min_sensitivity={target}) on scores {_SCORES.tolist()}, "
            f"labels {_LABELS.tolist()}"
        )
        got = fn(_LABELS.copy(), _SCORES.copy(), target)
        if got is None:
            _fail(what, got, f"a threshold just below {kth}", "your function must `return` the threshold")
        caught, false = _counts(float(got))
        if caught < k:
            hint = (
                "alarms ring at score > threshold, strictly: a threshold EQUAL to the k-th highest anomaly "
                "score lets that reading through; return a value just below it, e.g. np.nextafter(s, -np.inf)"
                if math.isclose(float(got), kth)
                else f"it catches only {caught} of {anomalies} anomalies (need {k}): sort the ANOMALIES' scores "
                f"(labels == 1), highest first, and go just below the k-th one, k = ceil(min_sensitivity x "
                f"anomalies)"
            )
            _fail(what, float(got), f"a threshold just below {kth}", hint)
        if false > best_false:
            _fail(
                what,
                float(got),
                f"a threshold just below {kth}",
                f"it catches enough anomalies but rings {false} false alarms where {best_false} is possible: "
                "the threshold is lower than it needs to be; use the anomalies' scores only (not a quantile of "
                "all scores) and stay just below the k-th highest",
            )
    return "correct: pick_threshold works"

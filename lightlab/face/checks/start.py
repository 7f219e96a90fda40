"""Checkers for notebook 00 (start here)."""

from __future__ import annotations

import math
from collections.abc import Callable

from lightlab.face.checks.base import fail as _fail
from lightlab.measurement.report import Report


def speedup(fn: Callable[[Report, str, str, int], float]) -> str:
    """Check ``fn(report, fast, slow, batch)`` returns how many times faster ``fast`` is than ``slow``."""
    report = Report()
    report.add("big", "latency_p50_b64", 8.0, "ms", "fixed example")
    report.add("tiny", "latency_p50_b64", 0.5, "ms", "fixed example")
    report.add("big", "latency_p50_b1", 1.0, "ms", "fixed example")
    report.add("tiny", "latency_p50_b1", 0.25, "ms", "fixed example")
    got = fn(report, "tiny", "big", 64)
    if got is None:
        _fail("speedup(report, 'tiny', 'big', 64)", got, 16.0, "your function must `return` the ratio")
    if not math.isclose(got, 16.0, rel_tol=1e-6):
        hint = (
            "you divided the wrong way round: the slow model's latency goes on top"
            if math.isclose(got, 1 / 16, rel_tol=1e-6)
            else "read both latencies with report.value(model, f'latency_p50_b{batch}') and divide slow by fast"
        )
        _fail("speedup(report, 'tiny', 'big', 64)", got, 16.0, hint)
    if not math.isclose(fn(report, "tiny", "big", 1), 4.0, rel_tol=1e-6):
        _fail(
            "speedup(report, 'tiny', 'big', 1)",
            fn(report, "tiny", "big", 1),
            4.0,
            "use the `batch` argument to pick the metric, e.g. f'latency_p50_b{batch}'",
        )
    return "correct: speedup works"


def per_million(fn: Callable[[float], float]) -> str:
    """Check ``fn(joules_per_inference)`` returns kilowatt-hours for a million inferences."""
    expected = 2.5e-3 * 1e6 / 3.6e6
    got = fn(2.5e-3)
    if got is None or not math.isclose(got, expected, rel_tol=1e-6):
        hint = (
            "1 kWh = 3.6e6 J; multiply by a million inferences first"
            if got is not None and math.isclose(got, 2.5e-3 * 1e6, rel_tol=1e-6)
            else "kWh = joules per inference x 1e6 inferences / 3.6e6 J per kWh"
        )
        _fail("per_million(2.5e-3)", got, expected, hint)
    return "correct: per_million works"

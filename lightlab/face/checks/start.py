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


def disagreements(fn: Callable) -> str:
    """Check ``fn(y_true, pred_a, pred_b)`` returns (inputs only A got right, inputs only B got right)."""
    y = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    a = [0, 1, 2, 3, 4, 5, 9, 9, 9, 0]  # right on 0-5
    b = [0, 1, 2, 9, 9, 5, 6, 7, 8, 1]  # right on 0-2 and 5-8; both wrong on 9, with different wrong answers
    what, expected = "disagreements(y, a, b) on ten fixed inputs", (2, 3)
    got = fn(y, a, b)
    if got is None:
        _fail(what, got, expected, "your function must `return` the two counts as a tuple")
    got = tuple(int(v) for v in got)
    if got == expected:
        return "correct: disagreements works"
    mistakes = {
        (3, 2): "you swapped the two counts: the first is the inputs A got right and B got wrong",
        (6, 7): "you counted every input each model got right: the inputs both got right tell the models nothing",
        (-1, 1): "a difference of accuracies is the net result; the test needs each direction on its own",
        (2, 4): "at input 9 both models are wrong (with different answers): that says nothing about who is better; "
        "count inputs where exactly one model is right",
    }
    _fail(what, got, expected, mistakes.get(got, "count (A right and B wrong) and (B right and A wrong) separately"))

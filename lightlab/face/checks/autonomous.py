"""Checkers for notebook 11 (autonomous systems: perception under a deadline)."""

from __future__ import annotations

import math
from collections.abc import Callable

from lightlab.face.checks.base import fail as _fail


def _stopping(speed: float, latency_s: float, decel: float) -> float:
    return speed * latency_s + speed**2 / (2 * decel)


def stopping_distance(fn: Callable[[float, float, float], float]) -> str:
    """Check ``fn(speed, latency_s, decel)`` returns reaction distance + braking distance in metres."""
    for speed, latency_s, decel in ((1.5, 0.2, 2.0), (1.0, 0.05, 2.0), (2.0, 0.0, 4.0), (0.0, 0.3, 2.0)):
        what = f"stopping_distance(speed={speed}, latency_s={latency_s}, decel={decel})"
        expected = _stopping(speed, latency_s, decel)
        got = fn(speed, latency_s, decel)
        if got is None:
            _fail(what, got, round(expected, 4), "your function must `return` the distance in metres")
        if math.isclose(float(got), expected, rel_tol=1e-6, abs_tol=1e-9):
            continue
        reaction, braking = speed * latency_s, speed**2 / (2 * decel)
        mistakes = {
            braking: "you left out the reaction distance: while the answer is on its way the robot still drives "
            "at full speed, speed * latency_s metres",
            reaction: "you left out the braking distance: once the robot knows, it still needs speed**2 / (2 * decel) "
            "metres to stop",
            reaction + speed**2 / decel: "braking from v at a constant deceleration a covers v**2 / (2 * a), not "
            "v**2 / a (the average speed while braking is v / 2)",
            speed * latency_s * 1e3 + braking: "latency_s is already in seconds: do not multiply it by 1000",
            reaction + speed / (2 * decel): "the braking distance grows with the SQUARE of the speed: v**2 / (2 * a)",
        }
        _fail(
            what,
            got,
            round(expected, 4),
            next(
                (hint for value, hint in mistakes.items() if math.isclose(float(got), value, rel_tol=1e-6)),
                "distance = speed * latency_s (reaction) + speed**2 / (2 * decel) (braking)",
            ),
        )
    return "correct: stopping_distance works"


def _dropped(latency_ms: float, period_ms: float) -> float:
    busy = max(1, math.ceil(latency_ms / period_ms - 1e-9))  # scans per answer, the one used included
    return 1 - 1 / busy


def dropped_share(fn: Callable[[float, float], float]) -> str:
    """Check ``fn(latency_ms, period_ms)`` returns the share of scans never looked at (a fixed latency)."""
    for latency_ms, period_ms in ((30.0, 50.0), (50.0, 50.0), (120.0, 50.0), (200.0, 50.0), (260.0, 100.0)):
        what = f"dropped_share(latency_ms={latency_ms}, period_ms={period_ms})"
        expected = _dropped(latency_ms, period_ms)
        got = fn(latency_ms, period_ms)
        if got is None:
            _fail(what, got, round(expected, 4), "your function must `return` a share between 0 and 1")
        if math.isclose(float(got), expected, abs_tol=1e-6):
            continue
        ratio = latency_ms / period_ms
        mistakes = [
            (
                1 - 1 / ratio,
                "the model can only start on a scan that ARRIVES while it is free, so it waits for the "
                "next whole period: round latency / period UP (math.ceil)",
            ),
            (
                1 - 1 / max(1, math.floor(ratio)),
                "round latency / period UP (math.ceil), not down: a model busy for "
                "2.4 periods misses the scans of 2 periods",
            ),
            (100 * expected, "return a share between 0 and 1, not a percentage"),
        ]
        _fail(
            what,
            got,
            round(expected, 4),
            next(
                (hint for value, hint in mistakes if math.isclose(float(got), value, abs_tol=1e-6)),
                "a model busy for latency_ms handles one scan in every ceil(latency_ms / period_ms) scans "
                "(at least 1); the others are dropped",
            ),
        )
    return "correct: dropped_share works"

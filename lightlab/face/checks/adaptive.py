"""Checkers for notebook 23 (adaptive models): a learner's controller over a fixed, hand-made profile table."""

from __future__ import annotations

from collections.abc import Callable

from lightlab.face.checks.base import fail as _fail

# Four operating points of one slimmable network. w=0.75 is a little MORE accurate than w=1 (it happens after
# training: the widest width is not always the best), so "most accurate" and "widest" differ.
TABLE = [
    {"width": 0.25, "accuracy": 95.0, "latency_ms": 0.10, "memory_kb": 300},
    {"width": 0.5, "accuracy": 97.0, "latency_ms": 0.20, "memory_kb": 1200},
    {"width": 0.75, "accuracy": 98.3, "latency_ms": 0.30, "memory_kb": 2600},
    {"width": 1.0, "accuracy": 98.1, "latency_ms": 0.40, "memory_kb": 4600},
]
# (latency budget in ms, memory budget in kB): each case tells one typical mistake apart
CASES = [(1.0, 5000), (0.35, 2000), (0.25, 5000), (0.2, 5000), (1.0, 1000), (0.05, 5000)]


def _reference(
    latency_ms: float, memory_kb: float, fits=None, best=max, key="accuracy", fallback: bool = False
) -> float | None:
    """Return the width picked by a rule: ``fits`` says which points qualify, ``best``/``key`` which one wins."""
    fits = fits or (lambda p: p["latency_ms"] <= latency_ms and p["memory_kb"] <= memory_kb)
    ok = [p for p in TABLE if fits(p)]
    if not ok:
        return min(TABLE, key=lambda p: p["latency_ms"])["width"] if fallback else None
    return best(ok, key=lambda p: p[key])["width"]


def pick_width(fn: Callable[[list[dict], float, float], float | None]) -> str:
    """Check ``fn(table, latency_ms, memory_kb)`` returns the most accurate width that fits both budgets, else None."""
    expected = [_reference(lat, mem) for lat, mem in CASES]
    got = [fn([dict(p) for p in TABLE], lat, mem) for lat, mem in CASES]
    if got == expected:
        return "correct: pick_width works"
    mistakes = {
        "you return the FASTEST width that fits; the controller should return the MOST ACCURATE one that fits "
        "(max over the fitting points by 'accuracy')": lambda lat, mem: _reference(
            lat, mem, best=min, key="latency_ms"
        ),
        "you return the WIDEST width that fits; the widest is not always the most accurate (here w=0.75 beats "
        "w=1): take the max by 'accuracy'": lambda lat, mem: _reference(lat, mem, key="width"),
        "you ignore the memory budget: a point fits only if latency_ms <= the latency budget AND memory_kb <= the "
        "memory budget": lambda lat, mem: _reference(lat, mem, fits=lambda p: p["latency_ms"] <= lat),
        "you ignore the latency budget: a point fits only if latency_ms <= the latency budget AND memory_kb <= "
        "the memory budget": lambda lat, mem: _reference(lat, mem, fits=lambda p: p["memory_kb"] <= mem),
        "a point whose cost EQUALS the budget fits it: compare with <=, not <": lambda lat, mem: _reference(
            lat, mem, fits=lambda p: p["latency_ms"] < lat and p["memory_kb"] < mem
        ),
        "when no width fits, return None (the caller must know the budget is impossible) rather than the "
        "fastest width": lambda lat, mem: _reference(lat, mem, fallback=True),
    }
    for hint, rule in mistakes.items():
        if got == [rule(lat, mem) for lat, mem in CASES]:
            _fail("pick_width over the 6 budgets " + str(CASES), got, expected, hint)
    i = next(i for i, (a, b) in enumerate(zip(got, expected, strict=True)) if a != b)
    _fail(
        f"pick_width(table, latency_ms={CASES[i][0]}, memory_kb={CASES[i][1]})",
        got[i],
        expected[i],
        "keep the points with latency_ms <= latency budget and memory_kb <= memory budget; return the 'width' of "
        "the most accurate of them, or None when none is left",
    )

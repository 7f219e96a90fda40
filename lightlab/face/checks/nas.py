"""Checkers for notebook 21 (neural architecture search)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import prediction

# (accuracy, latency ms) of eight candidates, made to tell the usual mistakes apart: 0 and 5 are identical,
# 2 and 7 tie on accuracy with a faster point, 6 is beaten on both objectives.
POINTS = [(0.90, 1.0), (0.95, 2.0), (0.95, 3.0), (0.80, 0.5), (0.97, 5.0), (0.90, 1.0), (0.85, 1.5), (0.97, 6.0)]
FRONT = [0, 1, 3, 4, 5]


def _indices(got: object, n: int) -> list[int] | None:
    """Return ``got`` as sorted indices (it may be indices or a boolean mask), or None when it is neither."""
    try:
        got = list(got)
    except TypeError:
        return None
    if len(got) == n and all(isinstance(g, bool) or type(g).__name__ == "bool_" for g in got):
        return [i for i, keep in enumerate(got) if keep]
    try:
        return sorted(int(i) for i in got)
    except (TypeError, ValueError):
        return None


def pareto_front(fn: Callable[[Sequence[tuple[float, float]]], Sequence[int]]) -> str:
    """Check ``fn(points)`` returns the indices of the (accuracy: higher, latency: lower) points nobody dominates."""
    what = f"pareto_front({POINTS})"
    got = fn(list(POINTS))
    if got is None:
        _fail(what, got, FRONT, "your function must `return` the indices of the points on the front")
    indices = _indices(got, len(POINTS))
    if indices == FRONT:
        return "correct: pareto_front works"
    mistakes = {
        (0, 1, 2, 3, 4, 5, 7): "points 2 and 7 tie on accuracy with a faster point, so they are dominated: b dominates "
        "a when b is at least as good in EVERY objective and strictly better in at least ONE "
        "(you asked for strictly better in both)",
        (1, 3, 4): "points 0 and 5 are identical: neither is strictly better in any objective, so neither dominates "
        "the other and both stay (you dropped a point because an equal one exists)",
        (4, 7): "you kept only the most accurate points: the front trades accuracy against latency, so compare both "
        "objectives",
        (4,): "you kept only the single most accurate point: the front is every point that no other point beats in "
        "both accuracy and latency",
        (3,): "you kept only the fastest point (or treated lower accuracy as better): accuracy is maximised and "
        "latency minimised, and the front keeps every trade-off between them",
        (7,): "lower latency is better: it looks like you maximised latency (the slowest accurate point survived)",
    }
    for wrong, hint in mistakes.items():
        if indices == sorted(wrong):
            _fail(what, indices, FRONT, hint)
    _fail(
        what,
        indices,
        FRONT,
        "keep point i unless some other point j has accuracy_j >= accuracy_i and "
        "latency_j <= latency_i with at least one of the two strict",
    )


def budget_prediction(guess: float | None, costs, latency_ms: float, params: int | None = None) -> str:
    """Compare the learner's predicted number of candidates within a budget (latency, and parameters if given)
    with the table's count, and explain which candidates fit and why."""
    fit = (costs.latency_ms <= latency_ms) & (True if params is None else costs.params <= params)
    fits = int(fit.sum())
    why = f"{fits} of the {len(costs)} candidates fit"
    if "family" in costs:
        counts = costs.assign(fit=fit).groupby("family").fit.agg(["sum", "size"])
        why += " (" + ", ".join(f"{family} {int(n)} of {int(size)}" for family, (n, size) in counts.iterrows()) + ")"
        fastest = costs.groupby("family").latency_ms.min().sort_values()
        why += "; the fastest of each family: " + ", ".join(f"{f} {1000 * ms:.0f} µs" for f, ms in fastest.items())
    why += (
        ". At batch 1 a layer's cost is mostly a fixed overhead of microseconds, not its multiply-adds, so the "
        "fastest candidates have the fewest operators whatever their width: an MLP of two Linear layers, or one "
        "convolution and its head. A depthwise-separable block runs two convolutions and an inverted residual "
        "three, each paying the overhead."
    )
    if params is not None:
        why += (
            " A parameter budget favours convolutions: each weight is reused at every position, while an MLP's "
            "first Linear layer alone holds (inputs x hidden) weights."
        )
    return prediction(guess, fits, "the candidates within the budget", "candidates", why)

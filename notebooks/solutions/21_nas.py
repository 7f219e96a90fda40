"""Solutions to the exercises of notebook 21 (neural architecture search)."""

from __future__ import annotations

from pathlib import Path

import lightlab as ll
from lightlab.techniques import nas, nas_latency, nas_space


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Exercise 1: indices of the (accuracy, latency) points that no other point dominates."""

    def dominates(b: tuple[float, float], a: tuple[float, float]) -> bool:
        # at least as good in both objectives, strictly better in one
        return b[0] >= a[0] and b[1] <= a[1] and (b[0] > a[0] or b[1] < a[1])

    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


# Exercise 2: a quarter of spoken_digits-small's parameters (27,338 / 4) and >= 96 % on test.
MAX_PARAMS, MIN_TEST_ACCURACY = 6834, 96.0

# The front of section 4 says where to look: convolutions with a flatten head and no hidden layer are the small,
# accurate candidates (a pooled head throws away *when* each sound happened). A space of 6 is searched whole.
FOCUSED = nas_space.Space(kinds=("conv",), depths=(1, 2), widths=(8, 16), kernels=(3,), heads=("flatten",), hidden=(0,))


def exercise_2(task: ll.Task, path: str | Path) -> ll.Report:
    """Search a focused space, pick the winner within the parameter budget, retrain it, measure it beside the
    hand-made spoken_digits-small."""
    table = nas_latency.latency_table(FOCUSED, task)
    cfg = nas.SearchConfig(trials=6, batch=6, epochs=15, seed=0)
    result = nas.search(cfg, task=task, space=FOCUSED, table=table, path=path, progress=False)
    winner = nas.retrain(result.best(nas.SearchBudget(params=MAX_PARAMS)), cfg, task=task, epochs=60, progress=False)
    small = ll.zoo.pretrained("spoken_digits-small")
    return nas.compare_with_references({"winner": winner, "spoken_digits-small": small}, task, table)

"""Solutions to the exercises of notebook 23 (kept apart from the notebook; tested in tests/test_solutions_23.py)."""

import lightlab as ll


def pick_width(table: list[dict], latency_ms: float, memory_kb: float) -> float | None:
    """Exercise 1: the width of the most accurate point within both budgets (<= fits), or None when none fits."""
    fits = [p for p in table if p["latency_ms"] <= latency_ms and p["memory_kb"] <= memory_kb]
    return max(fits, key=lambda p: p["accuracy"])["width"] if fits else None


WIDTHS = (0.125, 0.25, 0.5, 0.75, 1.0)


def exercise_3(task: ll.Task) -> ll.Report:
    """Exercise 3: add a width of 1/8; a higher learning rate and more epochs let the tiny width catch up."""
    sl = ll.adaptive.slimmable
    model = sl.slim_cnn((1, 8, 8), 10)
    sl.train_sandwich_(model, sl.SlimConfig(widths=WIDTHS, epochs=12, lr=3e-3, patience=12), task=task, progress=False)
    return sl.profile(model, task, WIDTHS, repeats=5)

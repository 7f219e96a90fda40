"""Solutions to the exercises of notebook 23 (kept apart from the notebook; tested in tests/test_solutions_23.py)."""

import torch

import lightlab as ll


def pick_width(table: list[dict], latency_ms: float, memory_kb: float) -> float | None:
    """Exercise 1: the width of the most accurate point within both budgets (<= fits), or None when none fits."""
    fits = [p for p in table if p["latency_ms"] <= latency_ms and p["memory_kb"] <= memory_kb]
    return max(fits, key=lambda p: p["accuracy"])["width"] if fits else None


def exit_index(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Exercise 4: per input, the first exit whose largest softmax probability is >= threshold, else the last."""
    confident = logits.softmax(dim=-1).amax(dim=-1) >= threshold  # [exits, inputs]
    confident[-1] = True  # the last exit always answers
    return confident.int().argmax(dim=0)  # argmax returns the first maximum: the first confident exit


WIDTHS = (0.125, 0.25, 0.5, 0.75, 1.0)


def exercise_3(task: ll.Task) -> ll.Report:
    """Exercise 3: add a width of 1/8; a higher learning rate and more epochs let the tiny width catch up."""
    sl = ll.adaptive.slimmable
    model = sl.slim_cnn((1, 8, 8), 10)
    sl.train_sandwich_(model, sl.SlimConfig(widths=WIDTHS, epochs=12, lr=3e-3, patience=12), task=task, progress=False)
    return sl.profile(model, task, WIDTHS, repeats=5)

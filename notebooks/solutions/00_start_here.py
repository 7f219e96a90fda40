"""Solutions to the exercises of notebook 00 (kept apart from the notebook; tested in tests/test_checks.py)."""

import lightlab as ll


def speedup(report: ll.Report, fast: str, slow: str, batch: int) -> float:
    """Return how many times faster ``fast`` is than ``slow`` at ``batch`` (p50 latencies)."""
    metric = f"latency_p50_b{batch}"
    return report.value(slow, metric) / report.value(fast, metric)


def per_million(joules_per_inference: float) -> float:
    """Return kilowatt-hours for a million inferences."""
    return joules_per_inference * 1e6 / 3.6e6


def disagreements(y_true, pred_a, pred_b) -> tuple[int, int]:
    """Return (inputs only A got right, inputs only B got right): the two numbers McNemar's test reads."""
    right_a = [a == y for a, y in zip(pred_a, y_true, strict=True)]
    right_b = [b == y for b, y in zip(pred_b, y_true, strict=True)]
    only_a = sum(ra and not rb for ra, rb in zip(right_a, right_b, strict=True))
    only_b = sum(rb and not ra for ra, rb in zip(right_a, right_b, strict=True))
    return only_a, only_b


def own_small_model(task: ll.Task):
    """Exercise 6: a 64-16-10 MLP (1,210 parameters) trained with the default settings."""
    model = ll.zoo.mlp(64, 10, hidden=(16,))
    ll.train.fit_(model, task, epochs=60, lr=1e-2, patience=15, progress=False)
    return model

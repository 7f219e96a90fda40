"""NAS benchmark part: a hardware-aware search on digits against the hand-designed ``digits-small``.

    python benchmarks/_bench_nas.py     (prints the targets; writes no results file)

Latency means batch 1 on 2 threads (the edge case: one input at a time). The latency table is measured on this
machine; the search (Optuna NSGA-II, durable journal storage) may only train candidates whose predicted latency is
within 10 % of digits-small's (the budget, pruned before training); the winner (best validation accuracy) is
retrained with digits-small's own schedule and timed side by side with it. "Dominates" = faster with no detectable
accuracy loss on the test split, or as fast and shown more accurate (exact McNemar test, 5 %), where "as fast"
means p50 latencies within 10 % of digits-small's p50 and "faster" means quicker by more than that and by more than
the timing spread (IQR). The table is then checked against whole-model timings of candidates spread over the
whole space.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import NOT_MEASURABLE, print_targets, target  # benchmarks/ is on sys.path when run as a script

import lightlab as ll
from lightlab.techniques import nas

SPACE = nas.Space(
    kinds=("mlp", "conv", "dwsep", "inverted"), depths=(0, 1, 2), widths=(16, 32, 64, 128, 256), kernels=(3,)
)
TOLERANCE = 0.10  # the latency budget over digits-small's prediction, and the "as fast" resolution
CHECKED = 16  # candidates timed whole to check the table


def run(targets: list[dict]) -> list[ll.Report]:
    """Search, retrain, compare with digits-small and check the latency table; append target rows."""
    with ll.config.using_threads(2):
        return _run(targets)


def _run(targets: list[dict]) -> list[ll.Report]:
    task, small = ll.load("digits"), ll.zoo.pretrained("digits-small")
    spec = ll.zoo.spec("digits-small")
    start = time.perf_counter()
    table = nas.latency_table(SPACE, task, batch=1)
    lut_s = time.perf_counter() - start
    budget = nas.SearchBudget(latency_ms=(1 + TOLERANCE) * table.predict(small, task.input_shape))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = nas.SearchConfig(sampler="nsga2", trials=40, lr=spec.lr, seed=spec.seed, storage=Path(tmp) / "nas.log")
        result = nas.search(cfg, task=task, space=SPACE, budget=budget, table=table)
    search_s = time.perf_counter() - start - lut_s
    winner = result.best()
    model = nas.retrain(winner, cfg, task=task, epochs=spec.epochs)  # digits-small's own schedule
    seconds = time.perf_counter() - start

    name = f"NAS winner ({winner})"
    report = nas.compare_with_references({name: model, "digits-small": small}, task, table, rounds=7)
    report.add(
        name,
        "val_accuracy_in_search",
        100 * result.trials.set_index("name").val_accuracy[str(winner)],
        "%",
        f"validation split after {result.trials.shape[0]} trained candidates' brief training",
    )
    costs = nas.costs(SPACE, task, table)
    fits = int((costs.latency_ms <= budget.latency_ms).sum())
    report.add(
        "search",
        "trained_candidates",
        len(result.trials),
        "count",
        f"Optuna NSGA-II; {fits} of the space's {len(costs)} candidates fit the budget (predicted latency <= "
        f"{budget.latency_ms:.4f} ms, digits-small + 10 %), the rest were pruned before training",
    )
    report.add("search", "wall_time", seconds, "s", "latency table + search + retraining the winner, wall clock")
    report.add("search", "latency_table_time", lut_s, "s", f"wall clock, {len(table.entries)} layer entries")
    report.add("search", "search_time", search_s, "s", "wall clock, Optuna search incl. training (1 thread)")
    target(targets, "NAS wall time (s)", seconds, "<= 300", seconds <= 300)
    test = ll.stats.compare_models({name: model, "digits-small": small}, task)
    dominates = nas.dominates(report, name, "digits-small", test, TOLERANCE)
    resolution = nas.resolution(report, name, "digits-small", TOLERANCE)
    report.add(
        name,
        "dominates_digits_small",
        float(dominates),
        "1/0",
        f"{test.verdict}; p50 {report.value(name, 'latency_p50_b1'):.4f} vs "
        f"{report.value('digits-small', 'latency_p50_b1'):.4f} ms (as fast = within {resolution:.4f} ms)",
    )
    _judged(targets, "NAS: winner dominates digits-small", float(dominates), "== 1", dominates, report, test)
    check = nas.check_table(SPACE, task, table, count=CHECKED, rounds=5)
    error = float(check.frame().query("metric == 'prediction_error'").value.median()) / 100
    _judged(targets, "NAS: latency table median error on searched models", error, "<= 0.20", error <= 0.20, check)
    return [report, check]


def _judged(targets: list[dict], name: str, value: float, goal: str, met: bool, report: ll.Report, test=None) -> None:
    """Append a target judged on ``report``'s timings: "not measurable now" when other processes disturbed one."""
    notes = [r["note"] for r in report.disturbed()]
    note = f"{NOT_MEASURABLE} ({notes[0]})" if notes else ""
    target(targets, name, value, goal, None if notes else met, note, test, None if test is None else met)


if __name__ == "__main__":
    rows: list[dict] = []
    run(rows)
    print_targets(rows)

"""NAS benchmark part: a hardware-aware search on spoken_digits judged against the hand-made ``spoken_digits-small``.

    python benchmarks/_bench_nas.py     (prints the targets; writes no results file)

Latency means batch 1 on one thread (the edge case: one input at a time, one core), every candidate deployed
(BatchNorm folded). The latency table is measured on this machine for the default space of ``ll.nas_space``
(per-layer block kind, width and kernel, up to two blocks, pooled or flattened head, optional hidden layer: 2,055
candidates). The search is unbudgeted: Optuna NSGA-II (128 candidates asked in rounds of 16, 15 epochs each,
starting from spoken_digits-small's design and the linear classifier) maximises validation accuracy and minimises
predicted latency and parameters; the candidates of each round train in two worker processes through
``ll.sweep`` (recorded in a file, resumable), and the search's energy is read by ``ll.meter.tracked`` (an estimate
without a power meter). The front is then filtered by the budget — a quarter of spoken_digits-small's parameters,
at most 3x its predicted latency — and the most accurate point left is retrained with spoken_digits-small's 40
epochs, then judged against it on the test split: exact McNemar test, and the 95 % paired interval of the accuracy
difference must stay above -2 points. The table is checked against whole-model timings of 16 candidates spread
over the whole space.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import NOT_MEASURABLE, print_targets, target  # benchmarks/ is on sys.path when run as a script

import lightlab as ll
from lightlab.techniques import nas, nas_latency, nas_space

SPACE = nas_space.Space()
TASK, SMALL = "spoken_digits", "spoken_digits-small"
START = [nas_space.Candidate(hidden=64), nas_space.Candidate()]  # SMALL's design (MLP 416-64-10), and "linear"
TOLERANCE = 0.10  # the "as fast" resolution of nas.dominates
LOSS_POINTS = 2.0  # the winner may lose at most this much accuracy to SMALL, shown by the paired interval
CHECKED = 16  # candidates timed whole to check the table


def run(targets: list[dict]) -> list[ll.Report]:
    """Search, filter the front by the budget, retrain the winner, judge it against SMALL, check the table."""
    with ll.config.using_threads(1):
        return _run(targets)


def _run(targets: list[dict]) -> list[ll.Report]:
    task, small = ll.load(TASK), ll.zoo.pretrained(SMALL)
    start = time.perf_counter()
    table = nas_latency.latency_table(SPACE, task)
    lut_s = time.perf_counter() - start
    size = SPACE.size()
    target(targets, "NAS: candidates in the space", size, ">= 200", size >= 200)
    small_ms = table.add(small, task.input_shape).predict(small, task.input_shape)
    budget = nas.SearchBudget(latency_ms=3 * small_ms, params=ll.measure.count_params(small) // 4)
    cfg = nas.SearchConfig(sampler="nsga2", seed=0)
    with tempfile.TemporaryDirectory() as tmp, ll.meter.tracked() as used:
        result = nas.search(cfg, task=task, space=SPACE, table=table, path=Path(tmp) / "nas.jsonl", start=START,
                            workers=2, progress=False)  # fmt: skip
    front = result.front()
    families = sorted(set(front.family))
    winner = result.best(budget)
    model = nas.retrain(
        winner, cfg, task=task, epochs=ll.config.epochs(None, ll.zoo.spec(SMALL).epochs, 15), progress=False
    )
    seconds = time.perf_counter() - start

    name = f"NAS winner ({winner})"
    report = nas.compare_with_references({name: model, SMALL: small}, task, table, rounds=7)
    report.add(
        name,
        "val_accuracy_in_search",
        100 * result.trials.set_index("name").val_accuracy[str(winner)],
        "%",
        "validation split after the search's brief training",
    )
    report.add("search", "space_size", size, "count", "distinct candidates of nas_space.Space()")
    report.add("search", "trained_candidates", result.trained, "count", f"of {len(result.study.trials)} asked, NSGA-II")
    report.add(
        "search",
        "front_size",
        len(front),
        "count",
        f"unbudgeted Pareto front (accuracy, latency, params): {', '.join(front.name)}",
    )
    fits = nas.within(front, budget)
    report.add(
        "search",
        "front_within_budget",
        len(fits),
        "count",
        f"budget: params <= {budget.params} (SMALL / 4), predicted latency <= {budget.latency_ms:.4f} ms (SMALL x 3)",
    )
    report.add("search", "wall_time", seconds, "s", "latency table + search + retraining the winner, wall clock")
    report.add("search", "latency_table_time", lut_s, "s", f"wall clock, {len(table.entries)} layer entries")
    report.add("search", "search_time", used["seconds"], "s", "wall clock, search incl. training (2 workers)")
    report.add("search", "search_energy", used["joules"], "J", used["method"], note=used["note"])
    report.add("search", "training_time", result.trials.train_s.sum(), "s", "sum of the candidates' training times")
    target(targets, "NAS wall time (s)", seconds, "<= 600", seconds <= 600)
    target(targets, "NAS search energy (J, estimated)", used["joules"], "> 0", used["joules"] > 0, used["method"])
    mixed = len(front) >= 3 and len(families) >= 2
    target(targets, "NAS: unbudgeted front points", len(front), ">= 3, >= 2 families", mixed, ", ".join(families))
    params, predicted = report.value(name, "params"), report.value(name, "latency_predicted")
    target(
        targets, "NAS: winner's parameters within the budget", params, f"<= {budget.params}", budget.allows(0, params)
    )
    _judged(targets, "NAS: winner's predicted latency within the budget (ms)", predicted,
            f"<= {budget.latency_ms:.4f}", budget.allows(predicted, 1), report)  # fmt: skip
    test = ll.stats.compare_models({name: model, SMALL: small}, task)
    shown = test.within(LOSS_POINTS)
    target(targets, f"NAS winner - {SMALL}: test accuracy (points)", test.difference, f">= -{LOSS_POINTS:g}", shown,
           test=test, shown=shown)  # fmt: skip
    dominates = nas.dominates(report, name, SMALL, test, TOLERANCE)
    report.add(
        name,
        "dominates_small",
        float(dominates),
        "1/0",
        f"{test.verdict}; p50 {report.value(name, 'latency_p50_b1'):.4f} vs "
        f"{report.value(SMALL, 'latency_p50_b1'):.4f} ms (as fast = within "
        f"{nas.resolution(report, name, SMALL, TOLERANCE):.4f} ms)",
    )
    check = nas_latency.check_table(SPACE, task, table, count=CHECKED, rounds=5)
    error = float(check.frame().query("metric == 'prediction_error'").value.median()) / 100
    _judged(targets, "NAS: latency table median error on searched models", error, "<= 0.20", error <= 0.20, check)
    return [report, check]


def _judged(targets: list[dict], name: str, value: float, goal: str, met: bool, report: ll.Report) -> None:
    """Append a target judged on ``report``'s timings: "not measurable now" when other processes disturbed one."""
    notes = [r["note"] for r in report.disturbed()]
    target(targets, name, value, goal, None if notes else met, f"{NOT_MEASURABLE} ({notes[0]})" if notes else "")


if __name__ == "__main__":
    rows: list[dict] = []
    run(rows)
    print_targets(rows)

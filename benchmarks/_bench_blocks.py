"""Efficient building blocks: closed forms match PyTorch's counter; where fewer MACs do and do not mean faster;
a network of efficient blocks keeps the accuracy of a standard CNN with a quarter of its parameters.

Called by benchmarks/nas.py; ``python benchmarks/_bench_blocks.py`` prints the targets without writing results.
"""

from __future__ import annotations

from _common import print_targets, ratio_target, target  # benchmarks/ is on sys.path when run as a script

import lightlab as ll

SEEDS = (0, 1, 2)
STANDARD = ("conv", (32, 64, 128))
EFFICIENT = ("inverted", (16, 32, 64))  # MobileNetV2-style: thin blocks, 4x expansion inside


def formula_mismatches() -> int:
    """Return how many (kind, shape) cases have counted params or MACs different from blocks.formula."""
    cases = [(16, 16, 3, 1, 8), (16, 32, 5, 2, 9), (64, 128, 3, 1, 32)]
    return sum(
        ll.blocks.cost(ll.blocks.make(kind, i, o, k, s), (i, size, size)) != ll.blocks.formula(kind, i, o, k, s, size)
        for kind in ll.blocks.KINDS
        for i, o, k, s, size in cases
    )


def networks(task: ll.Task) -> tuple[ll.Report, dict[str, list[float]]]:
    """Return params and mean test accuracy (seeds 0-2) of the standard and the efficient network, and the
    accuracies per seed."""
    report = ll.Report(environment=ll.measure.environment())
    # One thread: these tiny networks gain little from a second thread, and on a shared machine two threads waiting
    # for each other made training ten times slower.
    with ll.config.using_threads(1):
        per_seed = _train_both(task, report)
    return report, per_seed


def _train_both(task: ll.Task, report: ll.Report) -> dict[str, list[float]]:
    per_seed = {}
    for name, (kind, widths) in (("standard CNN", STANDARD), ("efficient CNN", EFFICIENT)):
        accuracies = []
        for seed in SEEDS:
            model = ll.blocks.network(task.input_shape, task.num_classes, kind, widths, seed=seed)
            ll.train.fit_(model, task, epochs=30, lr=1e-2, patience=10, seed=seed, progress=False)
            accuracies.append(100 * ll.train.evaluate(model, task))
        report.add(name, "params", ll.measure.count_params(model), "count", f"{kind} blocks, widths {widths}")
        report.add(
            name,
            "accuracy",
            sum(accuracies) / len(accuracies),
            "%",
            f"test split of {task.name!r}, mean over seeds {list(SEEDS)}",
            note="per seed: " + ", ".join(f"{a:.1f}" for a in accuracies),
        )
        per_seed[name] = accuracies
    return per_seed


def run(targets: list[dict]) -> list[ll.Report]:
    """Measure the blocks and append their target rows."""
    mismatches = formula_mismatches()
    target(targets, "blocks: counted params/MACs differing from the closed forms", mismatches, "0", mismatches == 0)
    large, small = ll.blocks.compare_blocks(128, 128, 32, rounds=5), ll.blocks.compare_blocks(16, 16, 8, rounds=5)
    name = "blocks: dwsep / conv latency, 128 ch 32x32 (1 thread)"
    ratio_target(targets, name, large, "latency_p50_b1", "dwsep", "conv", "<= 0.6", lambda r: r <= 0.6)
    # The honest other half of the lesson: on a tiny layer the dwsep block's extra layers cost more than its MACs.
    name = "blocks: dwsep / conv latency, 16 ch 8x8 (overhead)"
    ratio_target(targets, name, small, "latency_p50_b1", "dwsep", "conv", ">= 1", lambda r: r >= 1)
    nets, per_seed = networks(ll.load("digits"))
    share = nets.ratio("params", "efficient CNN", "standard CNN")
    target(targets, "blocks: efficient / standard CNN params (digits)", share, "<= 0.25", share <= 0.25)
    gap = nets.value("standard CNN", "accuracy") - nets.value("efficient CNN", "accuracy")
    # Paired by seed: the interval over seeds of (standard - efficient); "shown" when its high end is within 2.
    gaps = ll.stats.seed_interval([s - e for s, e in zip(*per_seed.values(), strict=True)])
    name = "blocks: accuracy lost by the efficient CNN (points)"
    target(targets, name, gap, "<= 2", gap <= 2, test=gaps, shown=gaps.high <= 2)
    return [large, small, nets]


if __name__ == "__main__":
    rows: list[dict] = []
    run(rows)
    print_targets(rows)

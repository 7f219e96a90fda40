"""Benchmark part: the edge/cloud cascade at its best threshold against the large model alone.

The threshold is chosen on the VALIDATION split (best validation accuracy with <= 30 % of inputs offloaded, least
offload on ties); the targets are then read on the TEST split at that threshold. The accuracy gap carries its exact
McNemar test (the cascade against the large model on the same test inputs); "shown" means the 95 % interval of the
gap stays within the goal. Accuracy and offload share come from one pass of each zoo model and do not depend on the
machine's load; latencies are measured (batch 1) and combined with the 4G LTE preset, an assumption named in every
row.
"""

from __future__ import annotations

from _common import print_targets, target  # benchmarks/ is on sys.path when benchmarks/nas.py runs

import lightlab as ll
from lightlab.techniques.adaptive import cascade

MAX_OFFLOAD = 0.30
MAX_GAP_POINTS = 0.5
TASKS = ("digits", "spoken_digits")  # every zoo pair whose small and large models differ by >= 0.5 points on test


def run(targets: list[dict]) -> list[ll.Report]:
    """Pick each task's threshold on validation, measure the cascade on test, append the target rows."""
    reports = []
    for name in TASKS:
        task = ll.load(name)
        small, large = ll.zoo.pretrained(f"{name}-small"), ll.zoo.pretrained(f"{name}-large")
        threshold = cascade.best_threshold(small, large, task, max_offload=MAX_OFFLOAD, split="val")
        report = cascade.evaluate_cascade(small, large, task, threshold, "4G LTE", split="test")
        chosen = f"cascade (threshold {threshold:g})"
        gap = report.value("cloud only (large)", "accuracy") - report.value(chosen, "accuracy")
        test = cascade.paired_test(small, large, task, threshold)
        share = report.value(chosen, "offload_share") / 100
        speed = report.ratio("latency_mean", chosen, "cloud only (large)")
        target(
            targets,
            f"cascade ({name}): accuracy gap to the large model at the best threshold (points)",
            gap,
            f"<= {MAX_GAP_POINTS}",
            gap <= MAX_GAP_POINTS,
            test=test,
            shown=test.within(MAX_GAP_POINTS),
        )
        target(
            targets,
            f"cascade ({name}): share of inputs sent to the cloud",
            share,
            f"<= {MAX_OFFLOAD:.2f}",
            share <= MAX_OFFLOAD,
        )
        target(
            targets, f"cascade ({name}): mean latency / cloud-only latency (4G LTE, modelled)", speed, "< 1", speed < 1
        )
        for row in report.rows:
            row["model"] = f"{name}: {row['model']}"
        report.add(
            f"{name}: {chosen}",
            "threshold",
            threshold,
            "probability",
            f"best validation accuracy with <= {MAX_OFFLOAD:.0%} offloaded (least offload on ties)",
        )
        reports.append(report)
    return reports


if __name__ == "__main__":
    found: list[dict] = []
    run(found)
    print_targets(found)

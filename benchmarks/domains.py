"""Application-domain benchmark: each task's small model against its large one, in the same run.

    python benchmarks/domains.py           # on a quiet machine
    python benchmarks/domains.py --busy    # beside a process spinning on one core: disturbed timings say so

For every domain task the zoo's ``TASK-large`` and ``TASK-small`` are measured side by side by ``ll.measure``
(latency with warm-up and repeats, sizes from real bytes, energy from CodeCarbon with its method named).
Targets per task: the small model is >= 10x smaller, >= 5x faster at batch 1, keeps >= 95 % of the large
model's metric (with the 95 % paired bootstrap interval of the ratio: "shown" when it clears 0.95) and spends
<= 0.2x the energy per inference. Keyword spotting adds: the small model as int8
fits 256 KB and keeps >= 85 % accuracy on held-out recordings. Prints a table and writes
benchmarks/results/domains.json ({"targets": [...], "rows": [...], "environment": {...}}).
"""

from __future__ import annotations

import sys
import time

from _common import ratio_target, run, target

import lightlab as ll

TASKS = ("spoken_digits", "activity", "faces", "ecg", "lidar", "shuttle")
KWS_FLASH_BYTES = 256 * 1024


def task_benchmark(targets: list[dict], name: str) -> ll.Report:
    """Measure TASK-large against TASK-small and check the four per-task targets."""
    task = ll.load(name)
    large, small = f"{name}-large", f"{name}-small"
    models = {large: ll.zoo.pretrained(large), small: ll.zoo.pretrained(small)}
    report = ll.measure.measure(models, task, batch_sizes=(1, 64), energy=True, progress=True)
    for metric, what in (("params", "parameters"), ("size", "serialized bytes")):
        ratio = report.ratio(metric, large, small)
        target(targets, f"{name}: large / small {what}", ratio, ">= 10", ratio >= 10)
    speedup = f"{name}: small speed-up at batch 1 (p50)"
    ratio_target(targets, speedup, report, "latency_p50_b1", large, small, ">= 5", lambda r: r >= 5)
    kept = report.ratio(task.metric, small, large)
    y, pred_small = ll.metrics.predictions(models[small], task.loader("test", shuffle=False))
    _, pred_large = ll.metrics.predictions(models[large], task.loader("test", shuffle=False))
    test = ll.stats.kept(y, pred_small, pred_large, 0.95, (small, large), task.metric)
    target(targets, f"{name}: small {task.metric} / large", kept, ">= 0.95", kept >= 0.95, test=test)
    energy = f"{name}: small / large energy per inference (CodeCarbon)"
    ratio_target(targets, energy, report, "energy_per_inference", small, large, "<= 0.2", lambda r: r <= 0.2)
    return report


def kws_int8_benchmark(targets: list[dict]) -> ll.Report:
    """Quantize the keyword-spotting small model to int8 (ONNX Runtime, static) and check the MCU targets."""
    task = ll.load("spoken_digits")
    small = ll.zoo.pretrained("spoken_digits-small")
    int8 = ll.quantize.quantize(small, ll.quantize.QuantConfig(backend="onnxruntime", calibration=task))
    report = ll.measure.measure({"spoken_digits-small int8": int8}, task, batch_sizes=(1,))
    size = report.value("spoken_digits-small int8", "size")  # the .onnx file's bytes
    target(
        targets, "spoken_digits: small int8 file (KB, budget 256 KB)", size / 1024, "<= 256", size <= KWS_FLASH_BYTES
    )
    accuracy = report.value("spoken_digits-small int8", "accuracy")
    target(targets, "spoken_digits: small int8 accuracy on held-out recordings (%)", accuracy, ">= 85", accuracy >= 85)
    return report


def main() -> tuple[list[dict], list[ll.Report]]:
    start = time.perf_counter()
    targets: list[dict] = []
    reports = [task_benchmark(targets, name) for name in TASKS]
    reports.append(kws_int8_benchmark(targets))
    minutes = (time.perf_counter() - start) / 60
    target(targets, "benchmark wall time (minutes)", minutes, "<= 15", minutes <= 15)
    return targets, reports


if __name__ == "__main__":
    sys.exit(run("domains", main))

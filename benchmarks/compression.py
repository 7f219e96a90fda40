"""Compression benchmark: pruning, int8 quantization, distillation and Deep Compression against their targets.

    python benchmarks/compression.py           # on a quiet machine
    python benchmarks/compression.py --busy    # beside a process spinning on one core: disturbed timings say so

Every figure is measured in this run (latencies side by side, with warm-up and repeats; sizes from real bytes).
Prints a table and writes benchmarks/results/compression.json as
{"targets": [{"target", "value", "goal", "met"}], "rows": [...], "environment": {...}}.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import ratio_target, run, target  # benchmarks/ is on sys.path when run as a script
from torch import nn

import lightlab as ll


class RawSession(nn.Module):
    """ONNX Runtime's own session called on a ready numpy array: the reference lightlab's wrapper is held to."""

    def __init__(self, onnx_model: nn.Module):
        super().__init__()
        self.session, self.input_name = onnx_model.session, onnx_model.input_name
        self.last: tuple[torch.Tensor, np.ndarray] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.last is None or self.last[0] is not x:  # the timing loop passes one tensor: convert it once
            self.last = (x, np.ascontiguousarray(x.numpy(), dtype=np.float32))
        return torch.from_numpy(self.session.run(None, {self.input_name: self.last[1]})[0])  # zero-copy


def int8_targets(targets: list[dict], report: ll.Report, kind: str, min_speedup: float, batch: int) -> None:
    """Check size, speed, accuracy and reference-speed targets for one compare_backends report."""
    metric = f"latency_p50_b{batch}"
    int8 = next(m for m in report.models() if m.startswith("onnxruntime int8"))
    fp32 = "torch fp32"
    size = report.ratio("size", int8, fp32)
    target(targets, f"{kind}: int8 file size / FP32", size, "<= 0.26", size <= 0.26)
    speedup = f"{kind}: int8 speed-up vs PyTorch FP32 (batch {batch})"
    ratio_target(targets, speedup, report, metric, fp32, int8, f">= {min_speedup}", lambda r: r >= min_speedup)
    if "accuracy" in {r["metric"] for r in report.rows}:
        drop = report.value(fp32, "accuracy") - report.value(int8, "accuracy")
        target(targets, f"{kind}: int8 accuracy drop (points)", drop, "<= 0.5", drop <= 0.5)
    references = [m for m in report.models() if m.startswith(("torchao", "reference"))]
    best = min(references, key=lambda m: report.value(m, metric))
    share = f"{kind}: lightlab int8 speed / best of torchao, raw ONNX Runtime"
    ratio_target(targets, share, report, metric, best, int8, ">= 0.95", lambda r: r >= 0.95)


def int8_benchmark(
    targets: list[dict], model: nn.Module, data, kind: str, min_speedup: float, batch: int = 64
) -> ll.Report:
    """Measure torch FP32, lightlab's ONNX Runtime int8, raw ORT and torchao (eager and compiled) side by side."""
    inputs = {"task": data} if isinstance(data, ll.Task) else {"example": data}
    lightlab_int8 = ll.quantize.quantize(model, ll.quantize.QuantConfig(backend="onnxruntime"), **inputs)
    models = {
        "torch fp32": model.eval(),
        f"onnxruntime int8 ({lightlab_int8.precision})": lightlab_int8,
        "reference: raw onnxruntime session": RawSession(lightlab_int8),
        "torchao int8 compiled": ll.quantize.quantize(
            model, ll.quantize.QuantConfig(backend="torchao", compile=True, skip_unsupported=True)
        ),
    }
    report = ll.int8.benchmark(models, **inputs, batch=batch)
    int8_targets(targets, report, kind, min_speedup, batch)
    return report


def pruning_benchmark(targets: list[dict], task: ll.Task, large: nn.Module) -> ll.Report:
    """Structured 50 % of channels, fine-tuned: latency and accuracy; unstructured shown beside it."""
    report = ll.prune.speed_comparison(large, example=task.example(64), sparsity=0.9, channels=0.5)
    structured = next(m for m in report.models() if m.startswith("structured"))
    speedup = "structured pruning 50 % channels: speed-up (batch 64)"
    ratio_target(targets, speedup, report, "latency_p50_b64", "dense", structured, ">= 2", lambda r: r >= 2)
    pruned = ll.prune.prune(large, ll.prune.PruneConfig(0.5, structured=True), task=task)
    tuned = ll.prune.finetune(pruned, task=task)
    drop = 100 * (ll.train.evaluate(large, task) - ll.train.evaluate(tuned, task))
    report.add(structured, "accuracy_after_finetune", 100 * ll.train.evaluate(tuned, task), "%", "test split")
    target(targets, "structured pruning 50 %: accuracy drop after fine-tuning (points)", drop, "<= 1", drop <= 1)
    return report


def deep_compression_benchmark(targets: list[dict], task: ll.Task, large: nn.Module) -> ll.Report:
    """Prune, share weights with k-means, entropy-code; sizes from the bytes written, model restored from them."""
    with tempfile.TemporaryDirectory() as tmp:
        # The notebook's per-layer budget: the 1 M-weight fc layer ("6") is cut deepest, the first conv least.
        cfg = ll.compress.CompressConfig(sparsity={"0": 0.5, "2": 0.8, "6": 0.95, "9": 0.7}, bits=4)
        result = ll.compress.compress(large, cfg, task=task, path=Path(tmp) / "digits-large.lldc")
        restored = ll.compress.load_compressed(result.path, "digits-large")
        fp32 = ll.zoo.weights_path("digits-large").stat().st_size
        ratio = fp32 / result.size
    target(targets, "deep compression: FP32 safetensors file / compressed file", ratio, ">= 25", ratio >= 25)
    drop = 100 * (ll.train.evaluate(large, task) - ll.train.evaluate(restored, task))
    target(
        targets, "deep compression: accuracy drop of the model loaded from the file (points)", drop, "<= 1", drop <= 1
    )
    return result.report


def distillation_benchmark(targets: list[dict], task: ll.Task, teacher: nn.Module) -> ll.Report:
    """KD with 10 % of the labels (soft targets on every image) against the same student without KD, 3 seeds."""
    # The notebook's student: MLP 64-128-10, 9,610 parameters (1/117 of the teacher).
    report = ll.distill.compare_kd(
        lambda seed: ll.zoo.mlp(64, 10, (128,), seed=seed),
        task=task,
        teacher=teacher,
        seeds=(0, 1, 2),
        label_fraction=0.1,
    )
    setting = ll.distill.setting(0.1)
    share = report.ratio("params", "student", "teacher")
    target(targets, "distillation: student params / teacher params", share, "<= 0.1", share <= 0.1)
    kept = report.ratio(f"accuracy, {setting}", "student, KD", "teacher")
    target(targets, f"distillation ({setting}): student accuracy / teacher accuracy", kept, ">= 0.97", kept >= 0.97)
    gain = report.value("student, KD", f"KD gain, {setting}")
    low, high = report.interval("student, KD", f"KD gain, {setting}")
    seeds = ll.stats.Interval(gain, low, high, 3)  # paired by seed: KD and no KD share the seed's initialisation
    name = f"distillation ({setting}): KD gain over no KD, mean of 3 seeds (points)"
    target(targets, name, gain, ">= 0.5", gain >= 0.5, test=seeds, shown=low > 0)
    return report


def main() -> tuple[list[dict], list[ll.Report]]:
    start = time.perf_counter()
    task, large = ll.load("digits"), ll.zoo.pretrained("digits-large")
    targets: list[dict] = []
    linear_heavy = ll.zoo.mlp(1024, 10, (4096, 4096)).eval()
    reports = [
        int8_benchmark(targets, large, task, "digits CNN", 3.0),
        int8_benchmark(
            targets,
            linear_heavy,
            torch.rand(64, 1024, generator=torch.Generator().manual_seed(0)),
            "MLP 1024-4096-4096-10",
            4.0,
        ),
        pruning_benchmark(targets, task, large),
        deep_compression_benchmark(targets, task, large),
        distillation_benchmark(targets, task, large),
    ]
    minutes = (time.perf_counter() - start) / 60
    target(targets, "benchmark wall time (minutes)", minutes, "<= 15", minutes <= 15)
    return targets, reports


if __name__ == "__main__":
    sys.exit(run("compression", main))

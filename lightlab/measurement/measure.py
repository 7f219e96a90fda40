"""Measure any ``nn.Module`` the same way: accuracy, size, MACs, latency, throughput, memory (and energy).

``measure(models, task)`` returns a ``Report`` of tidy rows ``{model, metric, value, unit, method}``;
every number says how it was obtained.
"""

from __future__ import annotations

import gc
import io
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lightlab import config
from lightlab.data.tasks import Task, check_inputs
from lightlab.measurement import meter, metrics
from lightlab.measurement.energy import measure_energy, modelled_energy
from lightlab.measurement.meter import FOREIGN_LOAD_LIMIT, cpu_seconds, expected_method, foreign_cores, method
from lightlab.measurement.report import Report

# The one default: every side-by-side timing keeps each model's best of this many alternating rounds.
ROUNDS = 3
LOAD_WINDOW_S = 0.1  # the shortest window over which other processes' CPU use is read


def count_params(model: nn.Module) -> int:
    """Return the number of parameters (weights and biases) in ``model``."""
    return sum(p.numel() for p in model.parameters())


def serialized_size(model: nn.Module) -> int:
    """Return the size in bytes of ``model``'s state_dict as written by ``torch.save``."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def file_size(model: nn.Module) -> tuple[int, str]:
    """Return the bytes a model takes on disk and how they were obtained (an .onnx file, or torch.save)."""
    onnx = getattr(model, "onnx_bytes", None)
    if onnx is not None:
        return len(onnx), "bytes of the .onnx file"
    if getattr(model, "file_bytes", None):  # a model read whole from a file (TorchScript)
        return int(model.file_bytes), "bytes of the model file"
    # A torch.compile'd module keeps the original under _orig_mod; its state_dict keys would be prefixed.
    return serialized_size(getattr(model, "_orig_mod", model)), "torch.save(state_dict) bytes"


@torch.inference_mode()
def count_macs(model: nn.Module, example: torch.Tensor) -> int | None:
    """Return multiply-accumulates for one forward pass on ``example`` (FLOPs / 2, PyTorch's counter), or the
    model's own count (an ONNX Runtime session, invisible to PyTorch's counter; None if it cannot tell)."""
    if callable(getattr(model, "count_macs", None)):
        return model.count_macs(example)
    if getattr(model, "macs_per_sample", None):
        return int(model.macs_per_sample) * example.shape[0]
    with FlopCounterMode(display=False) as counter:
        model(example)
    return counter.get_total_flops() // 2


def peak_memory(model: nn.Module, example: torch.Tensor) -> int:
    """Return weight bytes plus the largest input+output activation bytes of any one layer (MCU-style peak)."""
    # Outside inference mode: some quantized tensor subclasses refuse state_dict() inside it.
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values() if hasattr(t, "numel"))
    return weights + _largest_activation(model, example)


@torch.inference_mode()
def _largest_activation(model: nn.Module, example: torch.Tensor) -> int:
    largest = 0

    def hook(_module, inputs, output):
        nonlocal largest
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        largest = max(largest, sum(t.numel() * t.element_size() for t in tensors))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model(example)
    finally:
        for h in handles:
            h.remove()
    return largest


@dataclass
class Timing:
    """Latency samples in milliseconds, with the settings that produced them."""

    samples_ms: list[float]
    warmup: int
    threads: int
    batch_size: int
    foreign_cores: float = 0.0  # CPU used by other processes while timing, in cores
    rounds: int = 1  # alternating rounds this Timing is the best of

    @property
    def note(self) -> str | None:
        """Return a warning when other processes competed for the CPU, or the samples spread too widely, else None."""
        if self.foreign_cores > FOREIGN_LOAD_LIMIT:
            return (
                f"disturbed: other processes used {self.foreign_cores:.1f} cores while timing; rerun on a quiet machine"
            )
        if self.iqr > meter.SPREAD_LIMIT * self.p50:
            share = 100 * self.iqr / self.p50
            return f"disturbed: the spread (IQR) is {share:.0f} % of the median; rerun on a quiet machine"
        return None

    @property
    def p50(self) -> float:
        """Return the median latency in ms."""
        return float(np.percentile(self.samples_ms, 50))

    @property
    def p90(self) -> float:
        """Return the 90th-percentile latency in ms."""
        return float(np.percentile(self.samples_ms, 90))

    @property
    def iqr(self) -> float:
        """Return the interquartile range in ms (the spread we report)."""
        q1, q3 = np.percentile(self.samples_ms, [25, 75])
        return float(q3 - q1)

    @property
    def method(self) -> str:
        """Return how these samples were taken."""
        best = f"best of {self.rounds} alternating rounds of " if self.rounds > 1 else ""
        return (
            f"wall clock, {best}{len(self.samples_ms)} runs after {self.warmup} warm-up, "
            f"batch {self.batch_size}, {self.threads} threads"
        )


@torch.inference_mode()
def latency(model: nn.Module, example: torch.Tensor, warmup: int | None = None, repeats: int | None = None) -> Timing:
    """Return per-call latency samples of ``model(example)`` after warm-up (garbage collector paused)."""
    warmup = int(warmup if warmup is not None else config.pick(10, 3))
    repeats = int(repeats if repeats is not None else config.pick(100, 20))
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got repeats={repeats}, warmup={warmup}")
    model.eval()
    for _ in range(warmup):
        model(example)
    samples = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    busy0, own0 = cpu_seconds()
    begin = time.perf_counter()
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            model(example)
            samples.append((time.perf_counter() - start) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    busy1, own1 = cpu_seconds()
    foreign = foreign_cores(busy1 - busy0, own1 - own0, time.perf_counter() - begin)
    return Timing(samples, warmup, torch.get_num_threads(), example.shape[0], foreign)


class Call(nn.Module):
    """Any function of one tensor as a module, so the one timing rule can time it (a generation, a cached pass)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor):
        return self.fn(x)


def interleaved(
    models: Mapping[str, nn.Module],
    x: torch.Tensor,
    rounds: int | None = None,
    repeats: int | None = None,
    warmup: int | None = None,
) -> dict[str, Timing]:
    """Time models in turns for ``rounds`` rounds (default ``ROUNDS``) and keep each model's best round (lowest p50).

    This is LightLab's one timing rule: every side-by-side comparison uses it. Other processes on a shared machine
    can only add time, and they hit models unevenly (PyTorch's threads wait for each other when a core is taken
    away); taking turns and keeping the best round compares like with like. A kept round that other processes
    still disturbed carries the "disturbed" note.
    """
    rounds = ROUNDS if rounds is None else int(rounds)
    if rounds < 1:
        raise ValueError(f"need rounds >= 1, got {rounds}")
    best: dict[str, Timing] = {}
    busy0, own0 = cpu_seconds()
    start = time.perf_counter()
    for _ in range(rounds):
        for name, model in models.items():
            t = latency(model, x, warmup=warmup, repeats=repeats)
            if name not in best or t.p50 < best[name].p50:
                best[name] = t
    # A timing window of a few milliseconds is shorter than the CPU counters' tick, so it cannot see another
    # process; the whole comparison, stretched to LOAD_WINDOW_S if shorter, can.
    time.sleep(max(0.0, LOAD_WINDOW_S - (time.perf_counter() - start)))
    busy1, own1 = cpu_seconds()
    foreign = foreign_cores(busy1 - busy0, own1 - own0, time.perf_counter() - start)
    for t in best.values():
        t.rounds, t.foreign_cores = rounds, max(t.foreign_cores, foreign)
    return best


def add_timing(report: Report, name: str, t: Timing, metric: str | None = None, p90: bool = False) -> None:
    """Add ``t``'s p50 latency row (and its p90 row if asked) to ``report``, with its method and disturbed note."""
    metric = metric or f"latency_p50_b{t.batch_size}"
    report.add(name, metric, t.p50, "ms", t.method, spread=t.iqr, note=t.note)
    if p90:
        report.add(name, metric.replace("p50", "p90"), t.p90, "ms", t.method, note=t.note)


def batch_inputs(task: Task | None, example: torch.Tensor | None, batch: int) -> torch.Tensor:
    """Return ``batch`` inputs to time on: real test inputs of ``task``, or else ``example``'s first row repeated."""
    if task is not None:
        return task.example(batch)
    if example is None:
        raise ValueError("pass task=... (real inputs, adds accuracy) or example=... (an input tensor)")
    return example[:1].expand(batch, *example.shape[1:]).contiguous()


def _check_fits(name: str, model: nn.Module, example: torch.Tensor, task: Task | None) -> None:
    """Raise a clear error when ``model`` cannot take ``example`` or gives the wrong number of outputs."""
    expected = (
        f"task {task.name!r} gives inputs of shape [batch, {', '.join(map(str, task.input_shape))}]"
        if task
        else f"the example has shape {list(example.shape)}"
    )
    try:
        with torch.inference_mode():
            out = model.eval()(example[:1])
    except RuntimeError as err:
        raise ValueError(
            f"model {name!r} does not accept these inputs: {expected}. "
            f"Build the model for that input shape. (PyTorch said: {str(err).strip().splitlines()[-1]})"
        ) from err
    if task and (out.dim() != 2 or out.shape[1] != task.num_classes):
        raise ValueError(
            f"model {name!r} returns outputs of shape {list(out.shape)}, but task {task.name!r} "
            f"has {task.num_classes} classes: its last layer should have {task.num_classes} outputs"
        )


def environment() -> dict:
    """Return the machine and software a report was measured on."""
    from lightlab import __version__

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "int8_instructions": ", ".join(int8_instructions()) or "none found",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightlab": __version__,
        "platform": platform.platform(),
        "energy_method": expected_method(),
        "quick_mode": config.quick(),
    }


def cpu_model() -> str:
    """Return the CPU's model name."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def int8_instructions() -> list[str]:
    """Return the int8 dot-product instruction sets this CPU reports (AVX-512 VNNI, AVX-VNNI, ARM dotprod)."""
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        return []
    known = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8", "asimddp": "ARM dotprod"}
    return [label for flag, label in known.items() if flag in flags]


def task_scores(model: nn.Module, task: Task, split: str = "test") -> dict[str, float]:
    """Return accuracy, the task's own metric and, for a detector, sensitivity and specificity (each 0..1)."""
    y, pred = metrics.predictions(model, task.loader(split, batch_size=256))
    cm = metrics.confusion(y, pred, task.num_classes)
    scores = {"accuracy": metrics.accuracy(cm), task.metric: metrics.score(task.metric, cm)}
    if task.positive in task.classes:
        binary = metrics.binary(cm, task.classes.index(task.positive))
        scores |= {"sensitivity": binary["sensitivity"], "specificity": binary["specificity"]}
    return scores


def measure(
    models: nn.Module | Mapping[str, nn.Module],
    task: Task | None = None,
    example: torch.Tensor | None = None,
    batch_sizes: tuple[int, ...] = (1, 64),
    energy: bool = False,
    country: str = "FRA",
    repeats: int | None = None,
    progress: bool = False,
) -> Report:
    """Return a Report measuring each model (a module or a {name: module} dict) on a Task or an example input.

    With a Task: accuracy on its test split, and its real test inputs for timing. With only ``example``:
    everything but accuracy. Modelled energy is always included; ``energy=True`` adds CodeCarbon's figures.
    """
    if isinstance(models, nn.Module):
        models = {type(models).__name__: models}
    if not models:
        raise ValueError("no models to measure: pass a module or a non-empty {name: module} dict")
    if task is None and example is None:
        raise ValueError("pass a Task (for accuracy and real inputs) or an example input tensor")
    bad = [b for b in batch_sizes if not isinstance(b, int) or b < 1]
    if not batch_sizes or bad:
        raise ValueError(f"batch_sizes must be whole numbers >= 1, such as (1, 64); got {tuple(batch_sizes)}")
    if example is not None:
        check_inputs(example)
    one = example[:1] if example is not None else task.example(1)
    report = Report(environment=environment())
    for name, model in models.items():
        _check_fits(name, model, one, task)
        model.eval()
        if task is not None:
            for metric, value in task_scores(model, task).items():
                report.add(
                    name,
                    metric,
                    100 * value,
                    "%",
                    f"test split, {task.sizes()['test']} samples of "
                    f"{task.name!r}" + (" (synthetic)" if task.synthetic else ""),
                )
        report.add(name, "params", count_params(model), "count", "sum of parameter elements")
        size, how = file_size(model)
        report.add(name, "size", size, "bytes", how)
        macs = count_macs(model, one)
        how = getattr(model, "macs_method", "torch FlopCounterMode / 2") + ", per sample"
        report.add(name, "macs", float("nan") if macs is None else macs, "MACs", how if macs is not None else
                   "not counted: ONNX could not infer this graph's shapes")  # fmt: skip
        report.add(
            name,
            "peak_memory",
            peak_memory(model, one),
            "bytes",
            getattr(model, "peak_method", "weights + largest layer input+output (forward hooks), batch 1"),
        )
        report.extend([modelled_energy(model, one, precision=getattr(model, "precision", "fp32"), name=name)])
    for b in batch_sizes:
        # A given example is what gets timed; the task then only gives the accuracy.
        x = batch_inputs(None if example is not None else task, example, b)
        for name, t in interleaved(models, x, repeats=repeats).items():
            add_timing(report, name, t, p90=True)
            fixed = getattr(models[name], "fixed_batch", None)  # an .onnx file exported for one batch size
            for row in report.rows[-2:] if fixed not in (None, b) else ():
                row["method"] += f"; the file takes batches of {fixed} only, so each call ran a padded batch of {fixed}"
            if b == max(batch_sizes):
                report.add(name, f"throughput_b{b}", 1e3 * b / t.p50, "samples/s", "batch / p50 latency")
                report.add(
                    name,
                    "compute_s_per_million",
                    t.p50 / b * 1e3,
                    "s",
                    f"CPU-seconds per 1e6 inferences at batch {b} ({t.threads} threads busy)",
                )
    if energy:
        _add_energy(report, models, task, example, max(batch_sizes), country, progress)
    return report


def _add_energy(
    report: Report,
    models: Mapping[str, nn.Module],
    task: Task | None,
    example: torch.Tensor | None,
    batch: int,
    country: str,
    progress: bool,
) -> None:
    """Append CodeCarbon energy rows (measured or estimated, as labelled) for every model."""
    x = example if example is not None and example.shape[0] >= batch else batch_inputs(task, example, batch)
    report.extend(measure_energy(dict(models), x, country=country, progress=progress))
    report.environment["energy_method"] = method()

"""Real int8 that is smaller and faster: ONNX Runtime (an exported .onnx file you can deploy) and torchao.

Reached through ``ll.quantize.quantize(model, QuantConfig(backend="onnxruntime" | "torchao"), task=task)``;
``ll.int8.benchmark`` and ``ll.int8.speedup_outlook`` are called directly, and ``ll.quantize.compare_backends``
times every backend side by side. The ONNX Runtime result is an ``ll.onnx.OnnxModel``: a session wrapped as an
``nn.Module``, so ``ll.measure`` and ``ll.train.evaluate`` treat it like any model; its state_dict is the .onnx
file itself, so its size is the real deployable size.
"""

from __future__ import annotations

import copy
import tempfile
import warnings
from pathlib import Path
from typing import Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader

from lightlab.data.tasks import Task, check_inputs
from lightlab.measurement.measure import (
    add_timing,
    batch_inputs,
    count_macs,
    count_params,
    environment,
    file_size,
    int8_instructions,
    interleaved,
    task_scores,
)
from lightlab.measurement.report import Report
from lightlab.models.onnx import OnnxModel, export_onnx, quiet_loggers, strip_metadata

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Layers ONNX Runtime quantizes (Conv, Gemm/MatMul) or folds away at export (BatchNorm into the Conv before it).
ORT_SUPPORTED = (nn.Linear, *CONV, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Inputs per calibration run. ONNX Runtime holds every activation of a run at once (about 50 MB per 224 x 224 photo
# for EfficientNet-Lite0: 27 photos in one run peaked at 2.1 GB); MinMax ranges are the same whatever the batching.
CALIBRATION_BATCH = 1


class Int8Settings(Protocol):
    """The fields the int8 backends read: an ``ll.quantize.QuantConfig`` has them all (typed here without importing
    quantize, which imports this module)."""

    backend: str
    scheme: str
    channelwise: bool
    mode: str
    calibration: Task | DataLoader | torch.Tensor | None
    calibration_size: int
    compile: bool
    skip_unsupported: bool


def calibration_inputs(data: Task | DataLoader | torch.Tensor | None, size: int) -> torch.Tensor:
    """Return up to ``size`` real inputs from a Task's train split, a DataLoader or a tensor."""
    if data is None:
        raise ValueError(
            "static int8 needs calibration data: pass quantize(model, cfg, task=task) (or "
            "QuantConfig(calibration=...) with a DataLoader or an input tensor) so ONNX Runtime can measure each "
            "activation's range on real inputs"
        )
    if isinstance(data, Task):
        found = data.splits["train"].tensors[0][:size]
    elif isinstance(data, torch.Tensor):
        found = data[:size]
    elif isinstance(data, DataLoader):
        chunks, n = [], 0
        for batch in data:
            x = batch[0] if isinstance(batch, (list, tuple)) else batch
            chunks.append(x)
            n += len(x)
            if n >= size:
                break
        found = torch.cat(chunks)[:size] if chunks else torch.empty(0)
    else:
        raise TypeError(f"calibration must be a Task, DataLoader or tensor, got {type(data).__name__}")
    if found.dim() == 0 or len(found) == 0:
        raise ValueError("the calibration data is empty: give at least one real input (a few hundred is usual)")
    return check_inputs(found)  # NaN or inf would give ONNX Runtime a range it cannot scale


def unsupported_layers(model: nn.Module, supported: tuple[type, ...]) -> list[str]:
    """Return 'name (Type)' for every weighted leaf layer not in ``supported``."""
    return [
        f"{name!r} ({type(m).__name__})"
        for name, m in model.named_modules()
        if not list(m.children()) and any(True for _ in m.parameters(recurse=False)) and not isinstance(m, supported)
    ]


def _check_layers(model: nn.Module, cfg: Int8Settings, supported: tuple[type, ...], why: str) -> None:
    """Raise naming the layers ``cfg.backend`` cannot quantize, unless ``cfg.skip_unsupported``."""
    bad = unsupported_layers(model, supported)
    if bad and not cfg.skip_unsupported:
        raise ValueError(
            f"backend {cfg.backend!r} cannot quantize layer(s) {', '.join(bad)}: {why}. Pass "
            "QuantConfig(..., skip_unsupported=True) to keep them in float32"
        )


def onnxruntime_int8(model: nn.Module, cfg: Int8Settings, exported: bytes | None = None) -> OnnxModel:
    """Return ``model`` exported to ONNX and quantized to int8 by ONNX Runtime (static QDQ or dynamic).

    ``exported``: the float32 .onnx bytes of ``model`` if you already have them (saves a second export).
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    _check_layers(
        model,
        cfg,
        ORT_SUPPORTED,
        "ONNX Runtime quantizes Conv, Linear (Gemm/MatMul) and folds BatchNorm; other weighted layers stay float32",
    )
    model = copy.deepcopy(model).eval()  # counting MACs runs it: BatchNorm in train mode would update its stats
    has_conv = any(isinstance(m, CONV) for m in model.modules())
    mode = ("static" if has_conv else "dynamic") if cfg.mode == "auto" else cfg.mode
    if mode == "dynamic" and has_conv:
        warnings.warn(
            "ONNX Runtime dynamic int8 on a CNN is usually SLOWER than float32 (it re-quantizes every "
            "activation at run time, and its integer convolution kernels are slow): use mode='static'",
            stacklevel=3,
        )
    if mode == "static" or cfg.calibration is not None:
        inputs = calibration_inputs(cfg.calibration, cfg.calibration_size)
    else:
        raise ValueError(
            "pass quantize(model, cfg, task=task) (or example=an input tensor): dynamic int8 needs no "
            "calibration, but the export needs an example input to trace the model"
        )
    try:  # before the export, whose error would be a page of tracer internals
        with torch.inference_mode():
            model(inputs[:1])
    except (RuntimeError, ValueError) as err:
        raise ValueError(
            f"the calibration inputs have shape {list(inputs.shape[1:])} per sample, which the model does not "
            f"accept ({str(err).strip().splitlines()[-1]}); give inputs shaped like the model's"
        ) from err

    class Reader(CalibrationDataReader):
        def __init__(self, name: str):
            step = CALIBRATION_BATCH
            self.batches = iter([{name: inputs[i : i + step].numpy()} for i in range(0, len(inputs), step)])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre, out = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        fp32.write_bytes(exported or export_onnx(model, inputs[:1]))
        # ONNX Runtime's own recommended pre-processing (shape inference, graph clean-up) before quantizing.
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        options = {"WeightSymmetric": cfg.scheme == "symmetric"}
        if mode == "static":
            quantize_static(
                str(pre),
                str(out),
                Reader("input"),
                quant_format=QuantFormat.QDQ,
                per_channel=cfg.channelwise,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                extra_options=options,
            )
        else:
            quantize_dynamic(
                str(pre), str(out), per_channel=cfg.channelwise, weight_type=QuantType.QInt8, extra_options=options
            )
        # ONNX Runtime copies each node's exporter metadata into the quantized graph: strip what it carried over.
        return OnnxModel(strip_metadata(out.read_bytes()), macs_per_sample=count_macs(model, inputs[:1]))


def _torchao() -> tuple:
    """Import torchao's int8 config and ``quantize_`` without the warnings its import logs on a CPU machine."""
    # torchao logs "Failed to load ... .so" for its CUDA kernels, torch a deprecation about torchao's enums.
    with quiet_loggers("torchao", "torch.utils._pytree"):
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    return Int8DynamicActivationInt8WeightConfig, quantize_


def torchao_int8(model: nn.Module, cfg: Int8Settings) -> nn.Module:
    """Return a copy with int8 weights and dynamically quantized int8 activations in every Linear (torchao)."""
    Int8DynamicActivationInt8WeightConfig, quantize_ = _torchao()
    _check_layers(
        model,
        cfg,
        (nn.Linear,),
        "torchao's Int8DynamicActivationInt8WeightConfig handles nn.Linear "
        "only (use backend='onnxruntime' for convolutions)",
    )
    new = copy.deepcopy(model).eval()
    quantize_(new, Int8DynamicActivationInt8WeightConfig())
    # Eager mode dispatches every int8 step through a tensor subclass, which small layers pay for; compiling fuses
    # the steps into a few kernels (the first compile takes ~20 s).
    return torch.compile(new) if cfg.compile else new


def benchmark(
    models: dict[str, nn.Module],
    *,
    task: Task | None = None,
    example: torch.Tensor | None = None,
    batch: int = 64,
    repeats: int | None = None,
    timed: bool = True,
) -> Report:
    """Return accuracy (with a ``task``), size, stored weights and, if ``timed``, latency and speed-up over the first.

    Latency is ``ll.measure.interleaved`` at ``batch``: the models take turns and each keeps its best round. A
    speed-up built from a disturbed timing carries its note. ``timed=False`` suits simulated (fake-quantized)
    models, whose speed says nothing about the real thing.
    """
    x = batch_inputs(task, example, batch)
    report = Report(environment=environment())
    for name, m in models.items():
        if task is not None:
            for metric, value in task_scores(m, task).items():
                report.add(name, metric, 100 * value, "%", f"test split of {task.name!r}")
        size, how = file_size(m)
        report.add(name, "size", size, "bytes", how)
        report.add(name, "params", count_params(m), "count", "weight elements stored")
    if not timed:
        return report
    timings = interleaved(models, x, repeats=repeats)
    baseline = next(iter(models))
    base = timings[baseline]
    for name, t in timings.items():
        add_timing(report, name, t)
        method = f"{baseline} p50 / this p50 at batch {batch}"
        report.add(name, "speedup", base.p50 / t.p50, "x", method, note=base.note or t.note)
    return report


def onnxruntime_fp32(model: nn.Module, example: torch.Tensor) -> OnnxModel:
    """Return ``model`` exported to ONNX and run by ONNX Runtime in float32: the same runtime as its int8, no int8."""
    model = copy.deepcopy(model).eval()
    one = example[:1]
    return OnnxModel(export_onnx(model, one), macs_per_sample=count_macs(model, one))


def speedup_split(report: Report, batch: int, torch_fp32: str, onnx_fp32: str, onnx_int8: str) -> Report:
    """Return the int8 speed-up at ``batch`` split in two: runtime (PyTorch fp32 -> ONNX Runtime fp32, same numbers,
    another engine) times precision (ONNX Runtime fp32 -> int8, same engine, fewer bits), beside the whole.

    The three are ratios of the same p50 latencies in ``report``, so runtime x precision = the whole exactly; a
    disturbed timing makes each ratio that uses it carry the note."""
    metric = f"latency_p50_b{batch}"
    found = {(r["model"], r["metric"]): r for r in report.rows}
    rows = {name: found.get((name, metric)) for name in (torch_fp32, onnx_fp32, onnx_int8)}
    missing = [name for name, row in rows.items() if row is None]
    if missing:
        raise ValueError(
            f"no {metric} row for {', '.join(map(repr, missing))} in the report: measure those three models at "
            f"batch {batch} (ll.measure.measure(..., batch_sizes=({batch},)) or ll.int8.benchmark(..., batch={batch}))"
        )
    split = Report(environment=report.environment)
    steps = (
        ("runtime", torch_fp32, onnx_fp32, "the engine: ONNX Runtime's graph optimisation and kernels, still float32"),
        ("precision", onnx_fp32, onnx_int8, "int8 itself: the same engine with 8-bit weights and activations"),
        ("both", torch_fp32, onnx_int8, "what a 'PyTorch vs int8' headline reports: runtime x precision"),
    )
    for step, slow, fast, what in steps:
        note = "; ".join(dict.fromkeys(filter(None, (rows[slow].get("note"), rows[fast].get("note"))))) or None
        method = f"{slow} p50 / {fast} p50 at batch {batch} ({what})"
        split.add(
            f"{step}: {slow} -> {fast}", "speedup", rows[slow]["value"] / rows[fast]["value"], "x", method, note=note
        )
    return split


def speedup_outlook() -> str:
    """Return one paragraph on what int8 speed-up to expect from this CPU's int8 instructions, and why."""
    found = int8_instructions()
    if any("VNNI" in name or "AMX" in name for name in found):
        return (
            f"This CPU has {', '.join(found)}: one instruction (VPDPBUSD) multiplies 4 pairs of int8 values "
            "and adds them into each 32-bit lane, 4x the multiply-adds of a float32 FMA per instruction, on "
            "data 4x smaller. Expect int8 layers to run several times faster than float32."
        )
    if found:
        return (
            f"This CPU has {', '.join(found)} (int8 dot-product instructions, SDOT/UDOT): int8 layers can "
            "run several times faster than float32."
        )
    return (
        "No int8 dot-product instructions found (no AVX-512 VNNI, AVX-VNNI or ARM dotprod): int8 products "
        "take 2 to 3 instructions (AVX2 VPMADDUBSW, VPMADDWD, VPADDD) instead of one, so expect a smaller "
        "speed-up, or none. The 4x smaller file still holds: that is the reliable win."
    )

"""``lightlab optimize --model PATH --to int8|pruned|distilled``: one technique on your model, a deployable .onnx file
and a before/after report, so that you learn in one command what the technique does to *your* model."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch
from torch import nn

TECHNIQUES = ("int8", "pruned", "distilled")


def _needs(args: argparse.Namespace) -> None:
    """Refuse a combination that cannot work, before any model is read or trained."""
    if args.to not in TECHNIQUES:
        raise ValueError(f"--to must be one of {', '.join(TECHNIQUES)}, got {args.to!r}")
    if args.to in ("pruned", "distilled") and args.data is None:
        raise ValueError(f"--to {args.to} trains on your data: give --data PATH (.npz, .csv or an image folder)")
    if args.to == "int8" and args.data is None and args.input_shape is None:
        raise ValueError("--to int8 calibrates on real inputs: give --data PATH, or --input-shape for random ones")
    if args.to == "distilled" and args.student is None:
        raise ValueError("--to distilled trains a smaller model: give its builder with --student module:factory")
    if not 0 < args.sparsity < 1:
        raise ValueError(f"--sparsity must be between 0 and 1 (the share of channels removed), got {args.sparsity}")


def _apply(args: argparse.Namespace, model: nn.Module, task, example: torch.Tensor) -> nn.Module:
    from lightlab.models.onnx import OnnxModel
    from lightlab.models.user_models import FileModel, load_model
    from lightlab.techniques import distill, prune, quantize
    from lightlab.techniques.int8 import onnxruntime_int8

    if isinstance(model, FileModel) and args.to == "pruned":
        raise ValueError(
            "--to pruned removes channels, which a TorchScript or torch.export file has frozen: give the weights "
            "with --arch module:factory, or module:factory"
        )
    if args.to == "int8":
        cfg = quantize.QuantConfig(backend="onnxruntime", calibration=task if task is not None else example)
        if isinstance(model, OnnxModel):  # quantize the file itself
            mode = "static" if "Conv" in model.ops else "dynamic"
            cfg = dataclasses.replace(cfg, mode=mode, skip_unsupported=True)  # its layers are in the graph
            return onnxruntime_int8(model, cfg, model.onnx_bytes)
        return quantize.quantize(model, cfg)
    if isinstance(model, OnnxModel) and args.to == "pruned":
        raise ValueError("--to pruned removes channels and fine-tunes, which an .onnx file cannot do: give the weights")
    if args.to == "pruned":
        pruned = prune.prune(model, prune.PruneConfig(args.sparsity, structured=True), task=task)
        return prune.finetune(pruned, task=task, epochs=args.epochs)
    _, student = load_model(args.student)
    return distill.distill(student, distill.DistillConfig(epochs=args.epochs), task=task, teacher=model)


def channels_removed(before: nn.Module, after: nn.Module) -> list[dict]:
    """Return, per Conv/Linear layer, its output channels before and after structured pruning and the share removed."""
    widths = {
        n: m.weight.shape[0] for n, m in after.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Linear))
    }
    return [
        {"layer": n, "channels": m.weight.shape[0], "kept": widths[n], "removed": 1 - widths[n] / m.weight.shape[0]}
        for n, m in before.named_modules()
        if n in widths
    ]


def optimize(args: argparse.Namespace, out: Path):
    """Apply ``args.to`` to ``args.model``, write the .onnx file to ``out``: (Report before/after, file path)."""
    from lightlab import config
    from lightlab.data.user_data import load_data
    from lightlab.face.bench_own import input_shape
    from lightlab.measurement import measure
    from lightlab.models.onnx import OnnxModel, export_onnx
    from lightlab.models.user_models import load_model

    _needs(args)
    task = load_data(args.data) if args.data else None
    name, model = load_model(args.model, args.arch)
    config.seed_everything(0)
    example = task.example(1) if task is not None else torch.rand(1, *input_shape(args.input_shape))
    after = _apply(args, model, task, example)
    deployable = after if isinstance(after, OnnxModel) else OnnxModel(export_onnx(after, example))
    path = deployable.save(out / f"{name}-{args.to}.onnx")
    models = {"before": model, args.to: deployable}
    report = measure.measure(models, task, None if task else example, energy=not args.no_energy, progress=True)
    report.environment["data"] = Path(args.data).name if task else f"random inputs {list(example.shape[1:])}"
    report.environment["technique"] = args.to
    if args.to == "pruned":  # the sparsity each layer really reached (the output layer keeps its width)
        for row in channels_removed(model, after):
            how = f"{row['kept']} of {row['channels']} output channels kept (structured pruning)"
            report.add(args.to, f"channels_removed_{row['layer']}", 100 * row["removed"], "%", how)
    return report, path

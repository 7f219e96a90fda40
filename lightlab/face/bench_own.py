"""``lightlab bench --model PATH``: your own model files, on your own data or on inputs of a given shape."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

NO_DATA = "no --data: speed, size and energy only, on random inputs of the given shape (accuracy needs --data)"


def input_shape(text: str) -> tuple[int, ...]:
    """Return the shape of one input from '3,32,32' (no batch dimension)."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape must be whole numbers >= 1 without the batch, such as 3,32,32; got {text!r}")
    return shape


def bench(args: argparse.Namespace):
    """Measure the model files of ``args.model``: (Report, figures, names, whether there was data)."""
    from lightlab import config
    from lightlab.data.user_data import load_data
    from lightlab.face import plots
    from lightlab.measurement import measure
    from lightlab.models.user_models import load_model

    if args.data is None and args.input_shape is None:
        raise ValueError("give --data PATH (accuracy on your data) or --input-shape such as 3,32,32 (no accuracy)")
    shape = input_shape(args.input_shape) if args.input_shape else None
    task = load_data(args.data) if args.data else None  # both read and checked before any model runs
    models = {}
    for spec in args.model:
        name, model = load_model(spec, args.arch)
        models[name if name not in models else f"{name}-{len(models) + 1}"] = model
    config.seed_everything(0)
    example = None if task else torch.rand(1, *shape)
    report = measure.measure(models, task, example, energy=not args.no_energy, country=args.country, progress=True)
    # The data is named by its file or folder, never by its path: reports travel.
    report.environment["data"] = Path(args.data).name if task else f"{NO_DATA}: {list(shape)}"
    figures = [plots.report_bars(report)] + ([plots.tradeoff(report)] if task else [])
    return report, figures, list(models), task is not None

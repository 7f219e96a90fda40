"""Solutions to the exercises of notebook 10 (kept apart from the notebook; tested in tests/test_solutions_10.py)."""

from math import prod

import torch

import lightlab as ll
from lightlab.measurement import budget

EARBUD = budget.Device("earbud", ram=4 * 1024, flash=16 * 1024, weights_in_ram=False,
                       source="a budget for exercise 3")
BATTERY_J = 0.300 * 3.8 * 3600  # exercise 4's assumption: 300 mAh at 3.8 V


def peak_activation_bytes(shapes: list[tuple[int, ...]], bytes_per_value: int) -> int:
    """Exercise 1: the largest (input + output) values of any one layer, times the bytes per value."""
    sizes = [prod(shape) for shape in shapes]
    return max(a + b for a, b in zip(sizes, sizes[1:], strict=False)) * bytes_per_value


def earbud_spotter(task: ll.Task, hidden: int = 16, seed: int = 0) -> tuple[torch.nn.Module, budget.Fit]:
    """Exercise 3: a 416-16-10 perceptron (6,842 parameters), trained, then ONNX Runtime static int8.

    Its .onnx file is about 13.6 KB: 6.8 KB of int8 weights, the rest biases (int32), scales and the graph.
    The 64- and 24-unit ones are over 16 KB; the float32 input and its int8 copy take 2 KB of RAM whatever the
    model.
    """
    model = ll.zoo.mlp(32 * 13, 10, (hidden,), seed=seed)
    ll.train.fit_(model, task, epochs=40, lr=1e-3, patience=10, seed=seed, progress=False)
    int8 = ll.quantize.quantize(model, ll.quantize.QuantConfig(backend="onnxruntime", mode="static",
                                                               calibration=task))
    return int8, budget.fits(int8, task.example(1), EARBUD, name=f"MLP 416-{hidden}-10")


def battery_share_per_day(energy_per_inference_j: float, every_s: float = 0.5) -> float:
    """Exercise 4: the share of BATTERY_J one day of inferences every ``every_s`` seconds takes (modelled)."""
    return energy_per_inference_j * 24 * 3600 / every_s / BATTERY_J

"""Checkers for notebook 24 (microcontroller memory): peak_memory, receptive_rows, the peak prediction, the patch
target."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from lightlab.face.checks.base import CheckFailed, number, prediction
from lightlab.face.checks.base import fail as _fail
from lightlab.measurement import arena, measure
from lightlab.measurement.budget import DEVICE_BUDGETS, KB, Device, format_bytes
from lightlab.techniques.patches import PatchedModel

# A residual block in bytes: x is read by conv1 and, much later, by the add (the skip connection).
ORDER = ("x", "conv1", "relu", "conv2", "add", "pool")
SIZES = {"x": 16, "conv1": 32, "relu": 32, "conv2": 16, "add": 16, "pool": 1}
CONSUMERS = {
    "x": ("conv1", "add"),
    "conv1": ("relu",),
    "relu": ("conv2",),
    "conv2": ("add",),
    "add": ("pool",),
    "pool": (),
}
# Two branches that meet: the learner's function must work for any graph, not only the block above.
BRANCHES = (
    ("x", "a", "b", "c", "cat"),
    {"x": 16, "a": 4, "b": 16, "c": 4, "cat": 8},
    {"x": ("a", "b"), "a": ("cat",), "b": ("c",), "c": ("cat",), "cat": ()},
)

# Convolutions as (kernel, stride), first layer first, and the output rows of one patch.
LAYERS = ((3, 1), (3, 2), (3, 1), (5, 2))
ROWS = 4


def peak_memory(fn: Callable[[Sequence[str], Mapping[str, int], Mapping[str, Sequence[str]]], int]) -> str:
    """Check ``fn(order, sizes, consumers)`` returns the most bytes alive at once on a residual block and a branch."""
    order, sizes, consumers = list(ORDER), dict(SIZES), {k: list(v) for k, v in CONSUMERS.items()}
    expected = arena.peak_bytes(arena.from_dicts(ORDER, SIZES, CONSUMERS))
    got = fn(order, sizes, consumers)
    if (order, sizes, consumers) != (list(ORDER), dict(SIZES), {k: list(v) for k, v in CONSUMERS.items()}):
        _fail(
            "the arguments after peak_memory(...)",
            "changed",
            "unchanged",
            "read order, sizes and consumers; do not modify them (copy a list before removing from it)",
        )
    call = "peak_memory(ORDER, SIZES, CONSUMERS) on x → conv1 → relu → conv2 → add(x, conv2) → pool"
    mistakes = {
        sum(SIZES.values()): "you added up every tensor: a tensor is freed once its last consumer has run, so the "
        "peak is the largest set alive at one step, not the sum",
        64: "x is freed too early: it is read by conv1 AND by add (the skip connection), so it stays alive until add "
        "has run. A tensor lives until its LAST consumer, not its first",
        48: "an operator's inputs are still in memory while it runs: free a tensor only after its last consumer's "
        "step, so count it at that step too",
        max(SIZES.values()): "the peak counts every tensor alive at once, not only the largest one",
    }
    hint = (
        "walk the order: at each step add the tensor it writes, count everything alive, then free each tensor "
        "whose last consumer was this step"
    )
    if isinstance(got, float) and got.is_integer():
        got = int(got)
    number("peak_memory", call, got, expected, mistakes, hint, "the peak in bytes (an int)")
    order, sizes, consumers = BRANCHES
    want = arena.peak_bytes(arena.from_dicts(order, sizes, consumers))
    other = fn(list(order), dict(sizes), {k: list(v) for k, v in consumers.items()})
    if other != want:
        _fail(
            "peak_memory on x → (a, b → c) → cat",
            other,
            want,
            "your function must work for any graph: use "
            "`consumers` to find each tensor's last reader, whatever the names",
        )
    return "correct: peak_memory works"


def receptive_rows(fn: Callable[[Sequence[tuple[int, int]], int], int]) -> str:
    """Check ``fn(layers, rows)`` returns the input rows ``rows`` output rows need through (kernel, stride) layers."""
    expected = ROWS
    for k, s in reversed(LAYERS):
        expected = (expected - 1) * s + k
    forward = ROWS
    for k, s in LAYERS:
        forward = (forward - 1) * s + k
    no_stride, times, short = ROWS + sum(k - 1 for k, _ in LAYERS), ROWS, ROWS
    for k, s in reversed(LAYERS):
        times, short = times * s + k - 1, (short - 1) * s + k - 1
    mistakes = {
        forward: "you went through the layers first to last: start from the LAST layer's output and walk back to "
        "the input (reversed(layers))",
        no_stride: "each layer multiplies the rows by its stride: rows -> (rows - 1) * stride + kernel",
        times: "n output rows span (n - 1) strides plus one window: (rows - 1) * stride + kernel, not "
        "rows * stride + kernel - 1",
        short: "one window is `kernel` rows wide: (rows - 1) * stride + kernel (you added kernel - 1)",
    }
    got = fn(list(LAYERS), ROWS)
    call = f"receptive_rows({list(LAYERS)}, {ROWS})"
    hint = "from the last layer back: rows = (rows - 1) * stride + kernel"
    return number("receptive_rows", call, got, expected, mistakes, hint, "the number of input rows (an int)")


def _held(g: arena.Graph, itemsize: int | None) -> str:
    """Return the tensors the peak step neither reads nor writes (held for a later reader), with those readers."""
    step, alive = arena.peak_step(g, itemsize)
    at = g.names.index(step)
    later = {n: [r for r in readers if g.names.index(r) > at] for n, readers in g.consumers().items()}
    touched = {step, *g.steps[at].reads}
    held = [
        f"{n} ({format_bytes(b)}, read later by {', '.join(later[n])})"
        for n, b in alive.items()
        if n not in touched and later.get(n)
    ]
    return "; ".join(held) or "nothing else"


def peak_prediction(guess: float | None, g: arena.Graph, itemsize: int | None = None) -> str:
    """Compare a learner's predicted peak SRAM (KB) with the one measured on ``g``, and explain it."""
    measured = arena.peak_bytes(g, itemsize) / KB
    total = sum(g.sizes(itemsize).values()) / KB
    why = (
        f"{arena.describe(g, itemsize)}. Held for a later operator: {_held(g, itemsize)}. A runtime that freed "
        f"nothing would need the sum of every activation, {total:.0f} KB; one that kept only each operator's input "
        "and output would forget the tensors held for later, the skip connection's input among them."
    )
    return prediction(guess, measured, "the peak SRAM", "KB", why)


NRF52840 = DEVICE_BUDGETS["MCU (nRF52840)"]


def patch_target(
    patched: nn.Module, model: nn.Module, example: torch.Tensor, device: Device = NRF52840, itemsize: int = 1
) -> str:
    """Check ``patched`` computes ``model``'s outputs and fits ``device``'s SRAM (int8, in-place operators)."""
    if not isinstance(patched, PatchedModel):
        raise CheckFailed(
            f"expected a model from ll.patches.patch_based(model, PatchConfig(stage=..., grid=...)), got "
            f"{type(patched).__name__}"
        )
    x = example[:1]
    with torch.no_grad():
        diff = float((patched(x) - model.eval()(x)).abs().max())
    if not math.isfinite(diff) or diff > 1e-4:
        _fail("largest |patched - whole| output difference", diff, "<= 1e-4", "patch the same model you compare with")
    g = arena.graph(copy.deepcopy(patched), x)
    peak = arena.peak_bytes(g, itemsize, inplace=True)
    if peak > device.ram:
        step, _ = arena.peak_step(g, itemsize, inplace=True)
        module = next(s.module for s in g.steps if s.name == step)
        hint = (
            f"the peak is reached after the stage (at {step}, in {module}): put more layers in the stage "
            "(a larger PatchConfig.stage), so that the large tensors there run by patches too"
            if module.startswith("rest")
            else f"the peak is inside one patch (at {step}): cut the image into more patches (a larger grid)"
        )
        _fail(
            f"peak SRAM of the patched model ({itemsize} byte(s) per value, in-place)",
            format_bytes(peak),
            f"<= {format_bytes(device.ram)} ({device.name})",
            hint,
        )
    extra = measure.count_macs(patched, x) / measure.count_macs(model, x) - 1
    return (
        f"correct: peak SRAM {format_bytes(peak)} fits {device.name} ({format_bytes(device.ram)}), outputs equal "
        f"(largest difference {diff:.1e}); the halo costs {100 * extra:.0f} % more multiply-adds"
    )

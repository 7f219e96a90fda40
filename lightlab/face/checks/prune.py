"""Checkers for notebook 01 (pruning)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail as _fail

# Six weights with distinct magnitudes; the three smallest |w| are 0.05, 0.1 and 0.3 (two of them negative).
WEIGHT = torch.tensor([[0.5, -2.0, 0.1], [-0.3, 1.5, -0.05]])
KEEP_HALF = torch.tensor([[True, True, False], [False, True, False]])


def magnitude_mask(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """Check ``fn(weight, sparsity)`` returns a bool mask keeping the largest |w|, with round(s*n) zeros."""
    weight = WEIGHT.clone()
    got = fn(weight, 0.5)
    call = "magnitude_mask(WEIGHT, 0.5)"
    if got is None:
        _fail(call, got, KEEP_HALF, "your function must `return` the mask")
    if not isinstance(got, torch.Tensor) or got.shape != WEIGHT.shape:
        _fail(call, got, KEEP_HALF, "return a tensor of the same shape as `weight`, True where a weight is kept")
    if not torch.equal(weight, WEIGHT):
        _fail(f"WEIGHT after {call}", weight, WEIGHT, "build a new mask; do not modify `weight` itself")
    if got.dtype != torch.bool:
        _fail(f"{call}.dtype", got.dtype, torch.bool, "compare to get booleans, e.g. `weight.abs() > threshold`")
    if torch.equal(got, ~KEEP_HALF):
        _fail(
            call,
            got,
            KEEP_HALF,
            "you kept the smallest weights: True must mark the weights to KEEP, the ones with the largest |w|",
        )
    if torch.equal(got, WEIGHT > -0.05):
        _fail(
            call,
            got,
            KEEP_HALF,
            "you ranked the signed values, so -2.0 counted as small: rank by magnitude, weight.abs()",
        )
    if not torch.equal(got, KEEP_HALF):
        hint = (
            f"exactly round(sparsity * numel) = 3 weights must be removed, you removed {int((~got).sum())}; "
            "find the 3rd smallest |w| with torch.kthvalue or torch.topk(..., largest=False)"
            if int((~got).sum()) != 3
            else "remove the weights with the smallest |w|"
        )
        _fail(call, got, KEEP_HALF, hint)
    try:
        everything = fn(WEIGHT.clone(), 0.0)
    except Exception as err:  # a learner's kthvalue(0) raises: turn it into the hint it calls for
        everything = f"{type(err).__name__}: {err}"
    if not isinstance(everything, torch.Tensor) or not bool(everything.all()):
        _fail(
            "magnitude_mask(WEIGHT, 0.0)",
            everything,
            torch.ones_like(KEEP_HALF),
            "sparsity 0 removes nothing (k = 0: torch.kthvalue needs k >= 1, so handle it first)",
        )
    conv = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    zeros = int((~fn(conv, 0.3)).sum())
    if zeros != round(0.3 * conv.numel()):
        _fail(
            "zeros in magnitude_mask(conv weight [8, 4, 3, 3], 0.3)",
            zeros,
            round(0.3 * conv.numel()),
            "count over every element of the tensor (flatten it), whatever its shape",
        )
    return "correct: magnitude_mask works"

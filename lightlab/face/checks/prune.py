"""Checkers for notebook 01 (pruning): magnitude_mask, nm_mask, and the "predict, then run" speed guess."""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import prediction as _prediction
from lightlab.measurement.report import Report, is_disturbed

# Six weights with distinct magnitudes; the three smallest |w| are 0.05, 0.1 and 0.3 (two of them negative).
WEIGHT = torch.tensor([[0.5, -2.0, 0.1], [-0.3, 1.5, -0.05]])
KEEP_HALF = torch.tensor([[True, True, False], [False, True, False]])


def _check_mask(call: str, got, expected, weight: torch.Tensor, original: torch.Tensor, dtype_hint: str) -> None:
    """Fail unless ``got`` is a bool tensor shaped like ``original`` and the learner left ``weight`` unchanged."""
    name = call.split("(")[1].split(",")[0]
    if got is None:
        _fail(call, got, expected, "your function must `return` the mask")
    if not isinstance(got, torch.Tensor) or got.shape != original.shape:
        _fail(call, got, expected, "return a tensor of the same shape as `weight`, True where a weight is kept")
    if not torch.equal(weight, original):
        _fail(f"{name} after {call}", weight, original, "build a new mask; do not modify `weight` itself")
    if got.dtype != torch.bool:
        _fail(f"{call}.dtype", got.dtype, torch.bool, dtype_hint)


def magnitude_mask(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """Check ``fn(weight, sparsity)`` returns a bool mask keeping the largest |w|, with round(s*n) zeros."""
    weight = WEIGHT.clone()
    got = fn(weight, 0.5)
    call = "magnitude_mask(WEIGHT, 0.5)"
    _check_mask(call, got, KEEP_HALF, weight, WEIGHT, "compare to get booleans, e.g. `weight.abs() > threshold`")
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


# A [4, 8] weight: two groups of 4 per row. Row 3's second group is a four-way tie (0.5 everywhere): exactly 2 of
# them must stay. Grouping down the columns, keeping the smallest or ranking signed values all give other masks.
NM_WEIGHT = torch.tensor(
    [
        [0.9, -0.1, 0.5, -0.7, 0.2, 0.3, -0.4, 0.1],
        [-0.6, 0.8, 0.05, 0.3, -0.9, 0.15, 0.25, -0.35],
        [0.1, 0.2, -0.3, 0.4, 0.6, -0.05, 0.45, -0.55],
        [-0.8, 0.7, -0.2, 0.02, 0.5, 0.5, -0.5, 0.5],
    ]
)


def _nm_groups_ok(weight: torch.Tensor, mask: torch.Tensor, n: int, m: int, rank=torch.abs) -> bool:
    """Return True when every m consecutive weights of a row keep exactly n, none ranked below a dropped one (any
    choice among ties passes)."""
    for w, k in zip(rank(weight).reshape(-1, m), mask.reshape(-1, m), strict=True):
        if int(k.sum()) != n or (n < m and w[k].min() < w[~k].max()):
            return False
    return True


def _nm_hint(got: torch.Tensor) -> str:
    """Return the hint for a wrong 2:4 mask of NM_WEIGHT: the typical slip it matches, or how to do it."""
    slips = [
        (
            _nm_groups_ok(NM_WEIGHT, got, 2, 4, rank=lambda w: -w.abs()),
            "you kept the SMALLEST weights of each group: True marks the weights to KEEP, the n largest |w|",
        ),
        (
            _nm_groups_ok(NM_WEIGHT, got, 2, 4, rank=lambda w: w),
            "you ranked the signed values, so -0.9 counted as small: rank by magnitude, weight.abs()",
        ),
        (
            _nm_groups_ok(NM_WEIGHT.T, got.T, 2, 4),
            "you grouped along the wrong axis (down the columns, the output dimension): a group is m CONSECUTIVE "
            "weights along a row, the input dimension: weight.abs().reshape(-1, m)",
        ),
        (
            bool((got.reshape(-1, 4).sum(1) > 2).any()),
            "a group keeps MORE than n weights: with ties (the last group is 0.5, 0.5, -0.5, 0.5) a threshold "
            "`>= n-th largest` keeps them all; take exactly n indices per group with torch.topk or torch.sort",
        ),
    ]
    return next(
        (hint for matched, hint in slips if matched),
        "in each group of m consecutive weights of a row keep the n with the largest |w|: "
        "groups = weight.abs().reshape(-1, m); idx = groups.topk(n, dim=1).indices",
    )


def nm_mask(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> str:
    """Check ``fn(weight, n, m)`` keeps the n largest |w| in every m consecutive weights of each row (bool mask)."""
    weight = NM_WEIGHT.clone()
    call = "nm_mask(NM_WEIGHT, 2, 4)"
    got = fn(weight, 2, 4)
    expected = "a [4, 8] bool mask with 2 True in every 4 consecutive weights of a row"
    _check_mask(call, got, expected, weight, NM_WEIGHT, "return booleans, e.g. torch.zeros_like(w, dtype=torch.bool)")
    if not _nm_groups_ok(NM_WEIGHT, got, 2, 4):
        _fail(call, got.int().tolist(), expected, _nm_hint(got))
    other = fn(NM_WEIGHT.clone(), 1, 4)
    if not isinstance(other, torch.Tensor) or not _nm_groups_ok(NM_WEIGHT, other.bool(), 1, 4):
        _fail(
            "nm_mask(NM_WEIGHT, 1, 4)",
            other if not isinstance(other, torch.Tensor) else other.int().tolist(),
            "1 kept in every 4",
            "use the arguments n and m, not a fixed 2:4; n is how many are KEPT per group, not removed",
        )
    wide = fn(NM_WEIGHT.clone(), 2, 8)
    if not isinstance(wide, torch.Tensor) or not _nm_groups_ok(NM_WEIGHT, wide.bool(), 2, 8):
        _fail("nm_mask(NM_WEIGHT, 2, 8)", wide, "2 kept in every 8", "use m for the group size, not a fixed 4")
    return "correct: nm_mask works"


def nm_speed_prediction(guess: float | None, report: Report, batch: int = 64) -> str:
    """Return how a guessed speed-up (dense time / 2:4 time) at ``batch`` compares with the measured one."""
    metric = f"latency_p50_b{batch}"
    dense, masked = report.models()[:2]
    measured = report.ratio(metric, dense, masked)
    why = (
        f"On this CPU the dense model took {report.value(dense, metric):.3g} ms per batch of {batch}, the one with 2 "
        f"zeros in every 4 weights {report.value(masked, metric):.3g} ms. PyTorch's CPU kernels are dense: they "
        "multiply a zero as fast as any other number, so the zeros save no time. The up-to-2x needs hardware built "
        "for the pattern (NVIDIA's sparse tensor cores, Ampere and later) and a kernel that uses them (cuSPARSELt, "
        "TensorRT), and it speeds up the matrix multiplies only."
    )
    if any(is_disturbed(r) for r in report.rows if r["metric"] == metric):
        why += " Other programs disturbed this timing: rerun the cell for a clean ratio."
    return _prediction(guess, measured, f"the speed-up of 2:4 at batch {batch}", "x", why)

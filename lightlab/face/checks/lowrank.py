"""Checkers for notebook 05 (low-rank factorization)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lightlab.face.checks.base import CheckFailed, number, prediction
from lightlab.face.checks.base import fail as _fail
from lightlab.measurement.report import Report

# A fixed 4 × 6 matrix with four distinct singular values; exercise 1 keeps rank 2.
WEIGHT = torch.randn(4, 6, generator=torch.Generator().manual_seed(5))
RANK = 2
_U, _S, _VH = torch.linalg.svd(WEIGHT.double(), full_matrices=False)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a.double(), b.double(), atol=1e-4, rtol=1e-4)


def _rank_r(s: torch.Tensor, keep: slice = slice(0, RANK)) -> torch.Tensor:
    """Return U_k diag(s_k) Vh_k over the singular directions ``keep``."""
    return (_U[:, keep] * s[keep]) @ _VH[keep]


def _shapes(u: torch.Tensor, v: torch.Tensor, call: str) -> None:
    """Raise with the hint that names the likely slip when (U, V) do not have shapes (m, r) and (r, n)."""
    m, n = WEIGHT.shape
    got, want = (tuple(u.shape), tuple(v.shape)), ((m, RANK), (RANK, n))
    if got == want:
        return
    if u.dim() != 2 or v.dim() != 2:
        hint = "U and V must be 2-D matrices; to scale columns by a vector s use U * s (broadcasting), not torch.dot"
    elif tuple(v.shape) == (n, RANK):
        hint = (
            "you returned V (n × r), not Vᵀ (r × n): torch.svd gives V, torch.linalg.svd gives Vh = Vᵀ. "
            "Return V.T (or use Vh), so that U @ V is m × n"
        )
    elif u.shape[-1] == min(m, n) or v.shape[0] in (min(m, n), n):
        hint = (
            "you forgot to truncate: keep only the first `rank` columns of U (U[:, :rank]), singular values "
            "(S[:rank]) and rows of Vh (Vh[:rank]); use torch.linalg.svd(W, full_matrices=False)"
        )
    elif tuple(u.shape) == (RANK, m):
        hint = "U must be m × r (one row per output): you returned its transpose"
    else:
        hint = f"U must be m × rank = {m} × {RANK} and V rank × n = {RANK} × {n}"
    _fail(f"shapes of {call}", got, want, hint)


def factorize(fn: Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]) -> str:
    """Check ``fn(weight, rank)`` returns (U, V), U @ V the best rank-r approximation, sqrt(S) on each side."""
    weight, call = WEIGHT.clone(), f"factorize(WEIGHT (4 × 6), {RANK})"
    try:
        got = fn(weight, RANK)
    except RuntimeError as err:
        if "size" in str(err) or "shape" in str(err):
            raise CheckFailed(
                f"{call} raised a shape error: {err}\nHint: you used all min(m, n) singular values on one side: "
                "torch.diag(S) is 4 × 4 but U[:, :rank] has only `rank` columns. Keep S[:rank], the first `rank` "
                "singular values, and put sqrt(S[:rank]) on each side"
            ) from None
        raise
    best = _rank_r(_S)
    if got is None:
        _fail(call, got, "(U, V)", "your function must `return U, V`")
    if isinstance(got, torch.Tensor):
        hint = "you returned one tensor: return the two factors, `return U, V`, not their product"
        _fail(call, f"a tensor of shape {list(got.shape)}", "(U, V)", hint)
    if not (isinstance(got, tuple | list) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)):
        _fail(call, type(got).__name__, "(U, V)", "return a pair of tensors: `return U, V`")
    if not torch.equal(weight, WEIGHT):
        _fail(f"WEIGHT after {call}", "changed", "unchanged", "work on a copy; do not modify `weight` in place")
    u, v = (t.detach() for t in got)
    _shapes(u, v, call)
    product = u.double() @ v.double()
    if not _close(product, best):
        if _close(product, _rank_r(torch.ones_like(_S))):
            hint = "you left out the singular values: U @ V must be U_r · diag(S_r) · V_rᵀ, with sqrt(S_r) on each side"
        elif _close(product, _rank_r(_S.sqrt())):
            hint = "sqrt(S) went on one side only: put sqrt(S_r) on BOTH sides, so that the product holds S_r"
        elif _close(product, _rank_r(_S, slice(len(_S) - RANK, None))):
            hint = "you kept the smallest singular values: torch.linalg.svd sorts them largest first, keep [:rank]"
        else:
            hint = "U @ V must equal U_r · diag(S_r) · V_rᵀ, the first `rank` singular directions of torch.linalg.svd"
        _fail(f"{call}: U @ V", product.float(), best.float(), hint)
    if not _close(u.double().T @ u.double(), v.double() @ v.double().T):
        _fail(
            f"{call}: UᵀU vs VVᵀ",
            "unbalanced factors",
            "UᵀU == VVᵀ == diag(S_r)",
            "the product is right but all of S sits on one side: split it, U = U_r · sqrt(S_r) and "
            "V = sqrt(S_r) · V_rᵀ, so both factors have the same scale (fine-tuning and int8 need that)",
        )
    full = fn(WEIGHT.clone(), min(WEIGHT.shape))
    if not (isinstance(full, tuple | list) and len(full) == 2 and _close(full[0] @ full[1], WEIGHT)):
        _fail(
            "U @ V at full rank 4",
            "not WEIGHT",
            "WEIGHT",
            "at full rank nothing is dropped, so U @ V must give W back: slice with the `rank` argument",
        )
    return "correct: factorize works"


def factored_params(fn: Callable[[int, int, int], int]) -> str:
    """Check ``fn(m, n, rank)`` returns the weights of U (m × r) and V (r × n): r·(m + n), biases not counted."""
    m, n, r = 512, 2048, 16
    mistakes = {
        m * n: "that is the dense layer's m·n; the factors are U (m × r) and V (r × n)",
        r * m * n: "you multiplied r·m·n: U has m·r weights and V has r·n, so add them: r·(m + n)",
        r * m: "you counted U only: V adds r·n weights",
        r * n: "you counted V only: U adds m·r weights",
        r * (m + n) + m: "count the weights only: the bias (m values) stays the same in both layers",
        r * r: "the factors are m × r and r × n, not r × r",
    }
    number(
        "factored_params",
        f"factored_params({m}, {n}, {r})",
        fn(m, n, r),
        r * (m + n),
        mistakes,
        "U is m × r and V is r × n: r·(m + n) weights",
        "the number of weights",
    )
    return number(
        "factored_params",
        "factored_params(10, 512, 9)",
        fn(10, 512, 9),
        9 * 522,
        {},
        "use the arguments m, n and rank, not fixed numbers",
        "the number of weights",
    )


def predicted_speedup(guess: float | None, report: Report, rank: int = 16, batch: int = 64) -> str:
    """Compare a learner's predicted speed-up of one layer at ``rank`` with the one measured in ``report``.

    ``report`` is a ``ll.lowrank.layer_timing`` Report. A prediction is never "wrong": this says how far off it
    was and why; it only refuses a missing or impossible guess.
    """
    if guess is not None and (
        isinstance(guess, bool) or not isinstance(guess, int | float) or not guess > 0 or math.isinf(guess)
    ):
        raise CheckFailed(f"guess must be a speed-up > 0 (2 = twice as fast, 0.5 = twice as slow), got {guess!r}")
    name, metric = f"rank {rank}", f"latency_p50_b{batch}"
    mac = report.value(name, "mac_ratio")
    if report.disturbed([metric]):
        return (
            f"your guess: {guess:g}×. The timing is not measurable now (other processes disturbed it): rerun the "
            f"timing cell on a quieter machine. MACs alone predict {mac:.1f}×."
        )
    measured = report.ratio(metric, "dense", name)
    if guess is None:  # "Run all" goes on: the measurement, with a nudge to predict first next time
        return prediction(None, measured, "the speed-up", "x", f"MACs alone predict {mac:.1f}x.")
    said = f"you guessed {guess:g}×; measured {measured:.2f}× at batch {batch} (MACs alone predict {mac:.1f}×). "
    if 1 / 1.5 <= guess / measured <= 1.5:
        return said + "Close: you allowed for the cost that does not shrink with the rank."
    if abs(math.log(guess / mac)) < math.log(1.25) and measured < mac / 1.5:
        return said + (
            "You predicted the MAC ratio. The factored layer does that many times fewer multiply-adds, but it runs "
            "two matrix multiplies instead of one, and each call pays a fixed cost (Python, dispatch, waking "
            "threads) whatever its size; a thin r-wide product also keeps the CPU's vector units less busy. "
            "Below some rank the time stops falling: that fixed cost is all that is left."
        )
    if guess < measured:
        return said + (
            "Faster than you expected: the dense layer must read all its m·n weights from memory for every batch, "
            "and the two thin factors are small enough to stay in the CPU's caches."
        )
    return said + (
        "Slower than you expected: two calls instead of one, a fixed cost per call, and at a high rank the two "
        "products together do almost as much work as the dense one (r·(m + n) vs m·n)."
    )

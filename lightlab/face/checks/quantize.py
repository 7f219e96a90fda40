"""Checkers for notebook 02 (quantization)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail as _fail

W = torch.tensor([[-1.2, -0.5, 0.0, 0.25], [0.1, 0.2, 0.3, 2.0]])


def _codes(out: object, call: str) -> tuple[torch.Tensor, float]:
    """Return ``(q, scale)`` from a learner's result, or fail saying what shape of answer is expected."""
    if not isinstance(out, tuple) or len(out) != 2:
        _fail(call, type(out).__name__, "a tuple (q, scale)", "end with `return q, scale`")
    q, scale = out
    q = torch.as_tensor(q)
    if q.shape != W.shape:
        _fail(call, f"q of shape {list(q.shape)}", f"shape {list(W.shape)}", "q has one integer code per weight")
    return q, float(torch.as_tensor(scale))


def linear_quantizer(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> str:
    """Check ``fn(w, bits, scale=None) -> (q, scale)``: k-bit symmetric quantization, ``w ~= q * scale``."""
    call = "fn(W, 4)"
    q, scale = _codes(fn(W.clone(), 4), call)
    qmax = 2 ** (4 - 1) - 1
    expected = 2.0 / qmax
    if not math.isclose(scale, expected, rel_tol=1e-4):
        hints = {
            2.0 / 2**4: "2**bits is the number of codes, but half of them are negative: the largest "
            "positive 4-bit code is 2**(bits-1) - 1 = 7",
            2.0 / 2**3: "off by one: the largest signed 4-bit code used is 2**(bits-1) - 1 = 7, not 8",
            2.0 / (2**4 - 1): "2**bits - 1 is the asymmetric (unsigned) range; symmetric keeps one bit for "
            "the sign: divide by 2**(bits-1) - 1",
            1.2 / qmax: "use the largest magnitude, w.abs().max(), not the largest value or the smallest",
        }
        near = [h for value, h in hints.items() if math.isclose(scale, value, rel_tol=1e-4)]
        _fail(f"scale from {call}", scale, expected, near[0] if near else "scale = w.abs().max() / (2**(bits-1) - 1)")
    if not torch.equal(q, torch.round(q)):
        _fail(call, q.tolist(), "integers", "round w / scale to the nearest integer with torch.round")
    want = torch.round(W / expected)
    if not torch.equal(q.to(torch.float32), want):
        _fail(call, q.tolist(), want.to(torch.int64).tolist(), "q = round(w / scale); the zero point is 0")
    _, scale8 = _codes(fn(W.clone(), 8), "fn(W, 8)")
    if not math.isclose(scale8, 2.0 / 127, rel_tol=1e-4):
        _fail("scale from fn(W, 8)", scale8, 2.0 / 127, "use the `bits` argument, not a fixed 4")
    clipped = W.clone()
    clipped[0, 0] = -2.0
    q_clip, scale_clip = _codes(fn(clipped, 4, scale=0.2), "fn(W, 4, scale=0.2)")
    if q_clip.max().item() > qmax:
        _fail(
            "largest code from fn(W, 4, scale=0.2)",
            q_clip.max().item(),
            qmax,
            "a given scale may be smaller than max|w| / 7 (clipping outliers): clamp q to "
            "[-(2**(bits-1) - 1), 2**(bits-1) - 1]",
        )
    if q_clip.min().item() != -qmax:
        _fail(
            "smallest code from fn(W, 4, scale=0.2)",
            q_clip.min().item(),
            -qmax,
            "clamp symmetrically to -(2**(bits-1) - 1): -8 has no +8 partner, so the grid would not be symmetric",
        )
    if not math.isclose(scale_clip, 0.2, rel_tol=1e-6):
        _fail("scale from fn(W, 4, scale=0.2)", scale_clip, 0.2, "when a scale is given, use it and return it")
    return "correct: linear_quantizer works (scale, rounding, clamping)"

"""Checkers for notebook 02 (quantization)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import prediction
from lightlab.measurement.measure import int8_instructions

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


ACC = torch.tensor([-1000, -7, -6, 0, 5, 6, 10, 37, 500, 2000], dtype=torch.int32)  # int32 accumulators
M, ZERO_POINT = 0.25, 10  # acc * M has ties (-1.5, 1.5, 2.5) and values beyond 0..255 after the zero point


def _requantized(real: torch.Tensor, zero_point: int = ZERO_POINT) -> list[int]:
    return torch.clamp(real + zero_point, 0, 255).to(torch.int64).tolist()


def _requantize_mistakes(real: torch.Tensor) -> list[tuple[list[int], str]]:
    """Return the codes each typical slip gives on ACC, with the hint that names it."""
    even = "ONNX Runtime rounds ties to even, as torch.round does (-1.5 -> -2, 2.5 -> 2)"
    return [
        (
            _requantized(torch.round(real), 0),
            "the zero point is missing: add it after rounding (code zero_point stands for 0.0 on the output grid)",
        ),
        (
            _requantized(torch.round((ACC + ZERO_POINT).float() * M), 0),
            "the zero point is added before the multiply: it belongs to the output grid, add it after rounding",
        ),
        (
            _requantized(torch.trunc(real)),
            "the codes are truncated (int() or .to(int) cut toward zero): round to the nearest with torch.round",
        ),
        (_requantized(torch.floor(real)), "the codes are floored: round to the nearest code with torch.round"),
        (_requantized(torch.floor(real + 0.5)), f"floor(x + 0.5) rounds ties up (-1.5 -> -1, 2.5 -> 3): {even}"),
        (
            _requantized(torch.sign(real) * torch.floor(real.abs() + 0.5)),
            f"2.5 became 3: ties rounded away from zero (the paper's fixed-point form); {even}",
        ),
        (
            _requantized(torch.round(ACC.float() / M)),
            "acc is divided by M: the multiplier M = sx * sw / sy already folds the scales in, so multiply",
        ),
        (
            ((torch.round(real) + ZERO_POINT).to(torch.int64) % 256).tolist(),
            "the codes wrapped around (-240 became 16, 510 became 254): casting to uint8 does not saturate, "
            "so torch.clamp to 0..255 first",
        ),
    ]


def requantizer(fn: Callable[[torch.Tensor, float, int], torch.Tensor]) -> str:
    """Check ``fn(acc, multiplier, zero_point) -> uint8 codes``: round(acc * M) + zero_point, saturated to 0..255."""
    call = f"fn(ACC, {M}, {ZERO_POINT}) with ACC = {ACC.tolist()}"
    out = fn(ACC.clone(), M, ZERO_POINT)
    if out is None:
        _fail(call, None, "a tensor of uint8 codes", "your function must `return` the codes")
    got = torch.as_tensor(out)
    real = ACC.to(torch.float32) * M
    expected = _requantized(torch.round(real))
    values = got.to(torch.int64).tolist() if got.shape == ACC.shape else None
    if values != expected:
        for found, hint in _requantize_mistakes(real):
            if values == found:
                _fail(call, values, expected, hint)
        if values is not None and (min(values) < 0 or max(values) > 255):
            _fail(call, values, expected, "no saturation: clamp to the uint8 codes 0..255 before returning")
        _fail(call, values, expected, "codes = clamp(round(acc * multiplier) + zero_point, 0, 255)")
    if got.dtype != torch.uint8:
        hint = "return uint8 codes (.to(torch.uint8)): what the next layer reads, a quarter of float32's bytes"
        _fail(f"dtype of {call}", got.dtype, torch.uint8, hint)
    other = torch.as_tensor(fn(torch.tensor([100, -100, 3], dtype=torch.int32), 0.1, 128)).to(torch.int64).tolist()
    if other != [138, 118, 128]:
        hint = "use the multiplier and zero_point arguments, not fixed numbers"
        _fail("fn([100, -100, 3], 0.1, 128)", other, [138, 118, 128], hint)
    return "correct: requantizer works (rounding half to even, zero point, saturation)"


def affine_grid(fn: Callable[[float, float], tuple[float, int]]) -> str:
    """Check ``fn(lo, hi) -> (scale, zero_point)``: the uint8 grid covering [lo, hi] widened to hold 0.0."""
    cases = [((-1.0, 3.0), (4 / 255, 64)), ((0.5, 3.0), (3 / 255, 0)), ((-2.0, -1.0), (2 / 255, 255))]
    for (lo, hi), (scale, zero_point) in cases:
        call = f"fn({lo}, {hi})"
        out = fn(lo, hi)
        if not isinstance(out, tuple) or len(out) != 2:
            _fail(call, out, (round(scale, 6), zero_point), "end with `return scale, zero_point`")
        got_scale, got_zero = float(torch.as_tensor(out[0])), float(torch.as_tensor(out[1]))
        if not math.isclose(got_scale, scale, rel_tol=1e-5):
            hints = {
                (hi - lo) / 256: "256 codes make 255 steps: scale = (hi - lo) / 255",
                (hi - lo) / 255: "widen the range to include 0 first (lo = min(lo, 0), hi = max(hi, 0)): 0.0 must "
                "be a code exactly, for ReLU's zeros and zero padding",
                (hi - lo) / 127: "127 is the signed int8 maximum; a uint8 grid has codes 0..255: divide by 255",
            }
            near = [h for value, h in hints.items() if math.isclose(got_scale, value, rel_tol=1e-5)]
            hint = near[0] if near else "scale = (max(hi, 0) - min(lo, 0)) / 255"
            _fail(f"scale from {call}", round(got_scale, 6), round(scale, 6), hint)
        if got_zero != zero_point:
            hints = {
                -zero_point: "the sign: zero_point = -lo / scale, the code that stands for 0.0",
                -min(lo, 0.0) / scale: "the zero point is a code, a whole number: round(-lo / scale)",
                math.floor(
                    -min(lo, 0.0) / scale
                ): "the zero point is truncated: round(-lo / scale) to the nearest code",
            }
            hint = next((h for v, h in hints.items() if math.isclose(got_zero, v, abs_tol=1e-6)), None)
            _fail(f"zero_point from {call}", got_zero, zero_point, hint or "zero_point = round(-min(lo, 0) / scale)")
    return "correct: affine_grid works (range widened to 0, 255 steps, a whole-code zero point)"


def int8_speedup_guess(
    guess: float | None, report, slow: str = "fp32", fast: str = "int8 static", batch: int = 64
) -> str:
    """Compare a learner's predicted int8 speed-up with the one measured in ``report``; any number is an answer."""
    if guess is not None and not (isinstance(guess, int | float) and not isinstance(guess, bool) and guess > 0):
        _fail("my_guess", guess, "a speed-up > 0", "a speed-up is fp32's time / int8's time: 2.0 means twice as fast")
    metric = f"latency_p50_b{batch}"
    measured = report.value(slow, metric) / report.value(fast, metric)
    why = []
    if "onnxruntime fp32" in report.models():
        runtime = report.value(slow, metric) / report.value("onnxruntime fp32", metric)
        why.append(
            f"ONNX Runtime in float32 already runs {runtime:.2f}x PyTorch (graph optimisation, fused kernels), "
            f"so int8 itself gives {measured / runtime:.2f}x"
        )
    found = int8_instructions()
    why.append(f"this CPU's int8 instructions: {', '.join(found) if found else 'none (no VNNI or dotprod)'}")
    if report.disturbed([metric], [slow, fast]):
        why.append("a disturbed timing: rerun on a quiet machine")
    what = f"the speed-up at batch {batch} ({slow} -> {fast})"
    return prediction(guess, measured, what, "x", f"Why: {'; '.join(why)}.")

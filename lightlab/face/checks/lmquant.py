"""Checkers for notebook 31 (the quantization ladder on SmolLM2): round-to-nearest on a grid, Q4_1's grid recovered
from a block of released weights, SmoothQuant's scales."""

from __future__ import annotations

from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail
from lightlab.techniques.grids import Grid, fake_quantize

# A fixed weight matrix: 4 rows of 64 columns, one row with an outlier, seeded so every run sees the same numbers.
_W = torch.randn(4, 64, generator=torch.Generator().manual_seed(31)) * 0.1
_W[2, 5] = 0.9
_RTN_CASES = ((4, 32), (3, 64), (8, 16))

# One Q4_1 block as llama.cpp stores it: 32 codes of 4 bits, a scale and a minimum in fp16.
_Q4_SCALE = float(torch.tensor(0.0123, dtype=torch.float16))
_Q4_MIN = float(torch.tensor(-0.0987, dtype=torch.float16))
_Q4_CODES = torch.tensor(
    [3, 0, 7, 15, 8, 8, 9, 1, 12, 6, 7, 7, 5, 10, 4, 8, 2, 11, 7, 6, 9, 13, 8, 7, 5, 3, 14, 6, 8, 9, 7, 10]
)
_Q4_BLOCK = _Q4_CODES.float() * _Q4_SCALE + _Q4_MIN

_X_MAX = torch.tensor([8.0, 0.5, 1.0, 20.0])
_W_MAX = torch.tensor([0.1, 0.4, 0.2, 0.05])


def _same(got: torch.Tensor, expected: torch.Tensor) -> bool:
    # Another order of the same float operations can land a value exactly halfway and round it the other way.
    return got.shape == expected.shape and torch.isclose(got, expected, atol=1e-5).float().mean().item() >= 0.99


def _as_tensor(got: object, what: str, expected: torch.Tensor, returns: str) -> torch.Tensor:
    if got is None:
        fail(what, got, f"a tensor of shape {list(expected.shape)}", f"your function must `return` {returns}")
    got = torch.as_tensor(got).float()
    if got.shape != expected.shape:
        fail(what, f"shape {list(got.shape)}", f"shape {list(expected.shape)}", f"return {returns}, same shape")
    return got


def rtn(fn: Callable) -> str:
    """Check ``fn(w, bits, group_size)`` returns ``w`` rounded to nearest on an asymmetric grid per group."""
    for bits, group in _RTN_CASES:
        what = f"rtn(W, bits={bits}, group_size={group}) on a fixed 4 x 64 weight"
        expected = fake_quantize(_W, Grid(bits, group))
        got = _as_tensor(fn(_W.clone(), bits, group), what, expected, "the rounded weights (floats)")
        if _same(got, expected):
            continue
        show = (got[0, :4].tolist(), expected[0, :4].tolist())
        grouped = _W.reshape(4, -1, group)
        low, high = grouped.amin(-1, keepdim=True), grouped.amax(-1, keepdim=True)
        step, step_too_small = (high - low) / (2**bits - 1), (high - low) / 2**bits
        codes = (grouped - low) / step
        slips = [
            ("your codes are right but you return them: return the weights they stand for, code * scale + minimum",
             codes.round()),
            ("that is the SYMMETRIC grid (zero in the middle, scale from max |w|); here each group keeps its own "
             "minimum and maximum: scale = (max - min) / (2**bits - 1), offset = min",
             fake_quantize(_W, Grid(bits, group, symmetric=True))),
            ("round to the NEAREST code (torch.round), not down (floor) or towards zero",
             codes.floor() * step + low),
            (f"{2**bits} levels have {2**bits - 1} steps between them: scale = (max - min) / (2**bits - 1)",
             ((grouped - low) / step_too_small).round() * step_too_small + low),
            ("one grid for the whole matrix: each group of group_size consecutive weights of a row needs its own "
             "scale and minimum (reshape w to [rows, cols // group_size, group_size])",
             fake_quantize(_W, Grid(bits, "tensor"))),
            ("one grid per row: use groups of group_size weights, not the whole row",
             fake_quantize(_W, Grid(bits, "channel"))),
        ]  # fmt: skip
        for hint, wrong in slips:
            if _same(got, wrong.reshape(_W.shape)):
                fail(what, f"first weights {show[0]}", show[1], hint)
        fail(
            what,
            f"first weights {show[0]}",
            show[1],
            "per group: minimum m and scale s = (max - m) / (2**bits - 1); code = round((w - m) / s); "
            "return code * s + m",
        )
    return "correct: rtn works (it is ll.grids.fake_quantize(w, Grid(bits, group_size)))"


def _pair(got: object, what: str) -> tuple[float, float]:
    if not isinstance(got, tuple | list) or len(got) != 2:
        fail(what, got, "a pair (scale, minimum)", "end with `return scale, minimum`")
    return float(got[0]), float(got[1])


def _integer_codes(block: torch.Tensor, scale: float, minimum: float) -> torch.Tensor:
    return (block.double() - minimum) / scale


def q4_1_grid(fn: Callable, block: torch.Tensor | None = None) -> str:
    """Check ``fn(block) -> (scale, minimum)`` recovers the Q4_1 grid of a block of 32 released weights."""
    cases = [("a Q4_1 block built from known codes", _Q4_BLOCK)]
    if block is not None:
        cases.append(("your block of the real layer", torch.as_tensor(block).detach().float().reshape(-1)))
    for name, values in cases:
        what = f"q4_1_grid({name})"
        scale, minimum = _pair(fn(values.clone()), what)
        want_min, want_scale = float(values.min()), float(values.max() - values.min()) / 15
        want = (round(want_scale, 7), round(want_min, 7))
        if abs(scale - want_min) <= 1e-6 * abs(want_min) and abs(minimum - want_scale) <= 1e-6 * want_scale:
            fail(what, (scale, minimum), want, "return them in the order (scale, minimum)")
        if scale <= 0:
            fail(what, (scale, minimum), want, "the scale is the (positive) step between two neighbouring codes")
        codes = _integer_codes(values, scale, minimum)
        on_grid = (codes - codes.round()).abs().max().item() < 1e-3
        in_range = codes.round().min().item() >= 0 and codes.round().max().item() <= 15
        if on_grid and in_range and abs(scale - want_scale) <= 1e-5 * want_scale:
            continue
        slips = {
            float(values.max() - values.min()) / 16: "16 levels have 15 steps between them: divide by 2**4 - 1 = 15",
            float(values.abs().max()) / 7: "Q4_1 is not symmetric: it stores the block's own minimum, not a zero "
            "in the middle",
            float(values.abs().max()) / 7.5: "Q4_1 is not symmetric: it stores the block's own minimum, not a zero "
            "in the middle",
        }
        for value, hint in slips.items():
            if abs(scale - value) <= 1e-6 * value:
                fail(what, (scale, minimum), want, hint)
        if abs(scale - want_scale) <= 1e-5 * want_scale:
            fail(what, (scale, minimum), want, "the minimum is the smallest weight of the block: it gets code 0")
        fail(
            what,
            (scale, minimum),
            want,
            "code 0 is the smallest weight and code 15 the largest: minimum = block.min(), "
            "scale = (block.max() - block.min()) / 15",
        )
    return "correct: q4_1_grid works: every weight of the block is minimum + code * scale with a code from 0 to 15"


def smooth(fn: Callable) -> str:
    """Check ``fn(x_max, w_max, alpha)`` returns SmoothQuant's scales ``x_max**alpha / w_max**(1-alpha)``."""
    for alpha in (0.5, 0.8):
        what = f"smooth(x_max={_X_MAX.tolist()}, w_max={_W_MAX.tolist()}, alpha={alpha})"
        expected = _X_MAX.pow(alpha) / _W_MAX.pow(1 - alpha)
        got = _as_tensor(fn(_X_MAX.clone(), _W_MAX.clone(), alpha), what, expected, "one scale per channel")
        if torch.allclose(got, expected, rtol=1e-4):
            continue
        slips = {
            "alpha is the share of the difficulty moved onto the weights: raise x_max to alpha and w_max to "
            "1 - alpha": _X_MAX.pow(1 - alpha) / _W_MAX.pow(alpha),
            "the activations are DIVIDED by s, so s must be large where x_max is large: x_max**alpha / "
            "w_max**(1 - alpha)": _W_MAX.pow(1 - alpha) / _X_MAX.pow(alpha),
            "divide by w_max**(1 - alpha), do not multiply": _X_MAX.pow(alpha) * _W_MAX.pow(1 - alpha),
        }
        for hint, wrong in slips.items():
            if torch.allclose(got, wrong, rtol=1e-4):
                fail(what, [round(v, 4) for v in got.tolist()], [round(v, 4) for v in expected.tolist()], hint)
        fail(
            what,
            [round(v, 4) for v in got.tolist()],
            [round(v, 4) for v in expected.tolist()],
            "s = x_max**alpha / w_max**(1 - alpha), one value per input channel",
        )
    balanced = (_X_MAX / (_X_MAX.sqrt() / _W_MAX.sqrt())).tolist()
    return (
        "correct: smooth works. At alpha = 0.5 each channel's largest activation and largest weight become equal "
        f"(both sqrt(x_max * w_max): {[round(v, 3) for v in balanced]})"
    )

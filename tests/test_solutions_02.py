import pytest
import torch
from _solutions import load

import lightlab as ll


def solutions():
    return load("02_quantization")


def test_quantizer_solution_passes_the_checker():
    assert ll.checks.linear_quantizer(solutions().quantize_symmetric).startswith("correct")


def test_quantizer_solution_matches_the_library():
    w = ll.zoo.pretrained("digits-small")[1].weight.detach()
    q, scale = solutions().quantize_symmetric(w, 4)
    q_ref, scale_ref, _ = ll.quantize.linear_quantize(w, 4)
    assert torch.equal(q, q_ref.float()) and abs(scale - scale_ref.item()) < 1e-9


def test_four_bit_target_is_met(digits):
    fp32 = ll.train.evaluate(ll.zoo.pretrained("digits-small"), digits)
    model = solutions().four_bit_model(digits)
    assert ll.train.evaluate(model, digits) >= fp32 - 0.01
    for layer in (model[1], model[3]):  # symmetric 4-bit per channel: at most 15 values per output channel
        assert max(len(row.unique()) for row in layer.weight) <= 15


def _quantizer(divisor, clamp=True, low=None):
    """A learner's quantizer with a chosen scale divisor and clamping, to provoke each hint."""

    def fn(w, bits, scale=None):
        qmax = 2 ** (bits - 1) - 1
        scale = w.abs().max().item() / divisor(bits) if scale is None else scale
        q = torch.round(w / scale)
        return (torch.clamp(q, -qmax if low is None else low(bits), qmax) if clamp else q), scale

    return fn


@pytest.mark.parametrize(
    "fn, hint",
    [
        (_quantizer(lambda b: 2**b), "half of them are negative"),
        (_quantizer(lambda b: 2 ** (b - 1)), "off by one"),
        (_quantizer(lambda b: 2**b - 1), "asymmetric"),
        (_quantizer(lambda b: 2 ** (b - 1) - 1, clamp=False), "clamp q"),
        (_quantizer(lambda b: 2 ** (b - 1) - 1, low=lambda b: -(2 ** (b - 1))), "no \\+8 partner"),
        (lambda w, bits, scale=None: (w / (w.abs().max() / 7), w.abs().max() / 7), "torch.round"),
        (lambda w, bits, scale=None: None, "return q, scale"),
    ],
)
def test_wrong_quantizers_get_a_hint(fn, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.linear_quantizer(fn)


def test_requantize_and_grid_solutions_pass_and_match_the_library():
    sol = solutions()
    assert ll.checks.requantizer(sol.requantize).startswith("correct")
    assert ll.checks.affine_grid(sol.affine_grid).startswith("correct")
    # The solution is the library's rule: the same codes as ll.intonly.requantize on a real layer's accumulators.
    acc = torch.randint(-200_000, 200_000, (1000,), generator=torch.Generator().manual_seed(0))
    grid = ll.intonly.qparams(0.05, 17)
    assert torch.equal(sol.requantize(acc, 0.0004, 17), ll.intonly.requantize(acc, torch.tensor(0.0004), grid))
    scale, zero_point = sol.affine_grid(-0.7, 5.2)
    grid = ll.intonly.affine_qparams(-0.7, 5.2)
    assert scale == pytest.approx(grid.scale.item(), rel=1e-6) and zero_point == grid.zero_point.item()


def _requantize(rounding, zero_point_after=True, clamp=True, cast=True):
    """A learner's requantize with one chosen slip."""

    def fn(acc, m, zp):
        real = (acc.float() + (0 if zero_point_after else zp)) * m
        codes = rounding(real) + (zp if zero_point_after else 0)
        codes = torch.clamp(codes, 0, 255) if clamp else codes
        return codes.to(torch.int64).to(torch.uint8) if cast else codes  # int64 -> uint8 wraps on every CPU

    return fn


@pytest.mark.parametrize(
    "fn, hint",
    [
        (lambda acc, m, zp: torch.clamp(torch.round(acc * m), 0, 255).to(torch.uint8), "zero point is missing"),
        (_requantize(torch.round, zero_point_after=False), "added before the multiply"),
        (_requantize(torch.trunc), "truncated"),
        (_requantize(torch.floor), "floored"),
        (_requantize(lambda x: torch.floor(x + 0.5)), "rounds ties up"),
        (_requantize(lambda x: torch.sign(x) * torch.floor(x.abs() + 0.5)), "away from zero"),
        (_requantize(torch.round, clamp=False, cast=False), "no saturation"),
        (_requantize(torch.round, clamp=False), "wrapped around"),
        (_requantize(torch.round, cast=False), "return uint8 codes"),
        (lambda acc, m, zp: torch.clamp(torch.round(acc / m) + zp, 0, 255).to(torch.uint8), "so multiply"),
        (lambda acc, m, zp: torch.clamp(torch.round(acc * 0.25) + 10, 0, 255).to(torch.uint8), "not fixed numbers"),
        (lambda acc, m, zp: None, "must `return`"),
    ],
)
def test_wrong_requantizers_get_their_hint(fn, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.requantizer(fn)


@pytest.mark.parametrize(
    "fn, hint",
    [
        (lambda lo, hi: ((hi - lo) / 256, round(-lo / ((hi - lo) / 256))), "255 steps"),
        (lambda lo, hi: ((hi - lo) / 255, round(-lo / ((hi - lo) / 255))), "widen the range"),
        (lambda lo, hi: ((hi - lo) / 255, -lo / ((hi - lo) / 255)), "whole number"),
        (lambda lo, hi: ((hi - lo) / 255, int(-lo / ((hi - lo) / 255))), "truncated"),
        (lambda lo, hi: ((hi - lo) / 255, round(lo / ((hi - lo) / 255))), "the sign"),
        (lambda lo, hi: (hi - lo) / 255, "return scale, zero_point"),
    ],
)
def test_wrong_grids_get_their_hint(fn, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.affine_grid(fn)


def test_a_prediction_is_checked_for_an_answer_not_for_being_right():
    report = ll.Report()
    for name, ms in (("fp32", 10.0), ("onnxruntime fp32", 5.0), ("int8 static", 4.0)):
        report.add(name, "latency_p50_b64", ms, "ms", "test")
    assert ll.checks.int8_speedup_guess(None, report).startswith("no prediction written: measured 2.5 x.")
    with pytest.raises(ll.checks.CheckFailed, match="a speed-up > 0"):
        ll.checks.int8_speedup_guess(-1, report)
    far = ll.checks.int8_speedup_guess(10, report)
    assert far.startswith("your guess 10 x, measured 2.5 x: too high")
    assert "already runs 2.00x PyTorch" in far and "int8 itself gives 1.25x" in far
    assert ll.checks.int8_speedup_guess(2.4, report).startswith("your guess 2.4 x, measured 2.5 x: close")

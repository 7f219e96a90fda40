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

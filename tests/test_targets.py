"""ll.checks.target: the notebooks' outcome targets measured on a learner's model, with a hint on a miss."""

import pytest
from _solutions import load as solutions

import lightlab as ll
from lightlab.techniques.prune import PruneConfig


def test_a_met_target_says_what_was_measured_with_its_statistics(digits):
    model = solutions("00_start_here").own_small_model(digits)
    message = ll.checks.target("00.6", model)
    assert message.startswith("met: target 00.6") and "parameters; test accuracy" in message
    assert "95 % interval" in message and "exact McNemar, n = 360" in message


def test_too_many_parameters_is_named():
    with pytest.raises(ll.checks.CheckFailed, match="2,410 parameters is over 1,500"):
        ll.checks.target("00.6", ll.zoo.pretrained("digits-small"))


def test_zeros_still_stored_are_the_hint_for_an_unstructured_pruned_file():
    pruned = ll.prune.prune(ll.zoo.pretrained("digits-large"), PruneConfig(sparsity=0.9, scope="global"))
    with pytest.raises(ll.checks.CheckFailed, match="zeros are still stored as 4-byte floats") as info:
        ll.checks.target("01.4", pruned)
    assert "of its weights are zero" in str(info.value) and "= 100% of digits-large's" in str(info.value)


def test_a_float_model_is_not_a_4_bit_one():
    with pytest.raises(ll.checks.CheckFailed, match="a symmetric 4-bit grid has at most 15"):
        ll.checks.target("02.4", ll.zoo.pretrained("digits-small"))
    grid = ll.quantize.fake_quantize(ll.zoo.pretrained("digits-small"), ll.quantize.QuantConfig(bits=4))
    try:
        assert ll.checks.target("02.4", grid).startswith("met")
    except ll.checks.CheckFailed as miss:  # post-training 4-bit may lose more than a point: the hint says what next
        assert "quantization-aware training" in str(miss)


def test_unknown_targets_and_non_models_are_refused():
    with pytest.raises(ll.checks.CheckFailed, match="no target '9.9'; the targets are: 00.6, 01.4"):
        ll.checks.target("9.9", ll.zoo.pretrained("digits-small"))
    with pytest.raises(ll.checks.CheckFailed, match="pass your model"):
        ll.checks.target("00.6", "model.pt")

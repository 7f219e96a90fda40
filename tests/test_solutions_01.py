import pytest
import torch
from _solutions import load

import lightlab as ll


@pytest.fixture(scope="module")
def solutions():
    return load("01_pruning")


def test_solution_passes_the_checker(solutions):
    assert ll.checks.magnitude_mask(solutions.magnitude_mask).startswith("correct")
    assert ll.checks.magnitude_mask(ll.prune.magnitude_mask).startswith("correct")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda w, s: None, "must `return`"),
        (lambda w, s: ~ll.prune.magnitude_mask(w, s), "kept the smallest"),
        (lambda w, s: w > w.flatten().kthvalue(max(1, round(s * w.numel()))).values, "signed values"),
        (lambda w, s: w.abs() >= w.abs().flatten().kthvalue(max(1, round(s * w.numel()))).values, "exactly round"),
        (lambda w, s: ll.prune.magnitude_mask(w, s).float(), "booleans"),
        (lambda w, s: w.abs() > w.abs().flatten().kthvalue(round(s * w.numel())).values, "sparsity 0"),
        (lambda w, s: ll.prune.magnitude_mask(w[0], s), "same shape"),
    ],
)
def test_wrong_masks_get_a_hint(wrong, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.magnitude_mask(wrong)


def test_checker_catches_a_mask_computed_in_place():
    def in_place(weight, sparsity):
        mask = ll.prune.magnitude_mask(weight, sparsity)
        weight.mul_(mask)
        return mask

    with pytest.raises(ll.checks.CheckFailed, match="do not modify"):
        ll.checks.magnitude_mask(in_place)


@pytest.mark.parametrize("route", ["small_file_model", "small_file_model_sparse"])
def test_exercise_4_target_is_reachable(solutions, digits, route):
    model = getattr(solutions, route)(digits)
    original = ll.zoo.pretrained("digits-large")
    assert ll.measure.serialized_size(model) <= 0.25 * ll.measure.serialized_size(original)
    assert ll.train.evaluate(model, digits) >= 0.97
    assert model(digits.example(3)).shape == torch.Size([3, 10])

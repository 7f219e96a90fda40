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


def test_nm_mask_solution_passes_the_checker(solutions):
    assert ll.checks.nm_mask(solutions.nm_mask).startswith("correct")
    assert ll.checks.nm_mask(ll.nm.nm_mask).startswith("correct")


def _by(rank):
    """Return an nm_mask that keeps the n weights of each row-group ranked highest by ``rank`` (a typical slip)."""

    def mask(weight, n, m):
        groups = rank(weight).reshape(-1, m)
        return (
            torch.zeros_like(groups, dtype=torch.bool).scatter_(1, groups.topk(n, dim=1).indices, True).view_as(weight)
        )

    return mask


def _threshold(weight, n, m):
    groups = weight.abs().reshape(-1, m)
    return (groups >= groups.topk(n, dim=1).values[:, -1:]).view_as(weight)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda w, n, m: None, "must `return`"),
        (_by(lambda w: -w.abs()), "SMALLEST"),
        (_by(lambda w: w), "signed values"),
        (lambda w, n, m: ll.nm.nm_mask(w.T.contiguous(), n, m).T, "wrong axis"),
        (_threshold, "ties"),
        (lambda w, n, m: ll.nm.nm_mask(w, n, m).float(), "booleans"),
        (lambda w, n, m: ll.nm.nm_mask(w, 2, 4), "not a fixed 2:4"),
        (lambda w, n, m: ~ll.nm.nm_mask(w, m - n, m) if n != 2 else ll.nm.nm_mask(w, n, m), "KEPT per group"),
        (lambda w, n, m: ll.nm.nm_mask(w, n, 4), "not a fixed 4"),
        (lambda w, n, m: ll.nm.nm_mask(w[:2], n, m), "same shape"),
    ],
)
def test_wrong_nm_masks_get_a_hint(wrong, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.nm_mask(wrong)


def test_checker_catches_an_nm_mask_computed_in_place():
    def in_place(weight, n, m):
        mask = ll.nm.nm_mask(weight, n, m)
        weight.mul_(mask)
        return mask

    with pytest.raises(ll.checks.CheckFailed, match="do not modify"):
        ll.checks.nm_mask(in_place)


def test_the_speed_prediction_explains_the_measurement():
    report = ll.Report().add("dense", "latency_p50_b64", 2.0, "ms", "m").add("2:4", "latency_p50_b64", 2.1, "ms", "m")
    said = ll.checks.nm_speed_prediction(2.0, report)
    assert said.startswith("your guess 2 x, measured 0.952 x: too high") and "sparse tensor cores" in said
    assert ll.checks.nm_speed_prediction(None, report).startswith("no prediction written")
    report.rows[1]["note"] = "disturbed: other processes used 1.2 cores"
    assert "rerun the cell" in ll.checks.nm_speed_prediction(1.0, report)

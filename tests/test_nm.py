"""Tests for lightlab.techniques.nm: the N:M mask, pruning a real model with it, its accuracy cost and its speed."""

import pytest
import torch
from torch import nn

import lightlab as ll


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


def test_nm_mask_keeps_the_n_largest_of_every_m_consecutive_input_weights():
    w = torch.tensor([[0.9, -0.1, 0.5, -0.7, 0.2, 0.3, -0.4, 0.1]])
    assert ll.nm.nm_mask(w).int().tolist() == [[1, 0, 0, 1, 0, 1, 1, 0]]
    assert ll.nm.nm_mask(w, 1, 4).int().tolist() == [[1, 0, 0, 0, 0, 0, 1, 0]]
    assert ll.nm.nm_mask(w, 4, 8).int().tolist() == [[1, 0, 1, 1, 0, 0, 1, 0]]
    # ties: exactly n stay, the earlier positions (a threshold would keep all four)
    assert ll.nm.nm_mask(torch.tensor([[0.5, -0.5, 0.5, 0.5]])).int().tolist() == [[1, 1, 0, 0]]


def test_nm_mask_matches_a_per_group_reference_on_random_weights():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(64, 96, generator=g)
    mask = ll.nm.nm_mask(w, 2, 4)
    groups, kept = w.abs().reshape(-1, 4), mask.reshape(-1, 4)
    assert (kept.sum(1) == 2).all() and mask.dtype == torch.bool and mask.shape == w.shape
    reference = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, groups.topk(2, dim=1).indices, True)
    assert torch.equal(kept, reference)


def test_a_conv_weight_is_grouped_along_its_input_channels():
    w = torch.randn(8, 16, 3, 3, generator=torch.Generator().manual_seed(1))
    mask = ll.nm.nm_mask(w)
    along_channels = mask.permute(0, 2, 3, 1).reshape(-1, 4)  # [out, kh, kw, in]: 4 consecutive input channels
    assert (along_channels.sum(1) == 2).all() and mask.shape == w.shape
    magnitudes = w.abs().permute(0, 2, 3, 1).reshape(-1, 4)
    assert (
        magnitudes[along_channels].reshape(-1, 2).min(1).values
        >= magnitudes[~along_channels].reshape(-1, 2).max(1).values
    ).all()


def test_bad_patterns_are_refused():
    with pytest.raises(ValueError, match="1 <= n <= m.*got 3:2"):
        ll.nm.nm_mask(torch.ones(2, 4), 3, 2)
    with pytest.raises(ValueError, match=r"input dimension \(6\) is not a multiple of m=4"):
        ll.nm.nm_mask(torch.ones(2, 6))
    with pytest.raises(ValueError, match="1-D tensor"):
        ll.nm.nm_mask(torch.ones(8))
    with pytest.raises(ValueError, match="no layer of Sequential can take 2:4"):
        ll.nm.nm_prune(nn.Sequential(nn.Linear(3, 5)))
    with pytest.raises(TypeError, match="pass an NMConfig"):
        ll.nm.nm_prune(nn.Linear(4, 4), ll.prune.PruneConfig())


def test_nm_prune_gives_every_layer_that_fits_the_pattern_and_leaves_the_model(large):
    assert ll.nm.plan(large) == {
        "0": "dense: 1 input channels, not a multiple of 4",
        "2": "2:4",
        "6": "2:4",
        "9": "2:4",
    }
    before = {k: v.clone() for k, v in large.state_dict().items()}
    pruned = ll.nm.nm_prune(large)
    assert all(torch.equal(before[k], v) for k, v in large.state_dict().items())  # the input is not mutated
    for name in ("2", "6", "9"):
        weight = pruned.get_submodule(name).weight
        assert torch.equal(weight != 0, ll.nm.nm_mask(large.get_submodule(name).weight))
    assert torch.equal(pruned[0].weight, large[0].weight)
    assert ll.nm.NMConfig(1, 4).name == "1:4"


def test_compare_unstructured_prunes_the_same_layers_as_much_and_tests_the_pair(large, digits):
    report, paired = ll.nm.compare_unstructured(large, digits)
    assert report.models() == ["dense", "2:4 (N:M)", "unstructured 50%"]
    assert report.value("2:4 (N:M)", "sparsity") == pytest.approx(
        report.value("unstructured 50%", "sparsity"), abs=0.01
    )
    assert 49 < report.value("2:4 (N:M)", "sparsity") < 50  # the first conv (576 weights) stays dense
    assert report.value("dense", "accuracy") == pytest.approx(100 * ll.train.evaluate(large, digits))
    assert paired.n == 360 and paired.names == ("2:4 (N:M)", "unstructured 50%")
    assert paired.difference == pytest.approx(
        report.value("2:4 (N:M)", "accuracy") - report.value("unstructured 50%", "accuracy")
    )
    assert min(report.value(m, "accuracy") for m in report.models()) > 95  # 50 % costs this model little
    assert paired.verdict.startswith(("no detectable difference", "2:4 (N:M) is better", "unstructured 50% is better"))


def test_on_this_cpu_the_2_4_zeros_buy_no_speed(large, digits):
    report = ll.nm.speed(large, example=digits.example(64), batch_sizes=(64,), repeats=10)
    assert report.models() == ["dense", "2:4 zeros, dense kernel"]
    assert report.ratio("nonzero_params", "2:4 zeros, dense kernel", "dense") == pytest.approx(0.5, abs=0.01)
    # The reason: the masked model keeps dense float32 layers of the same shapes, which dense kernels multiply whole.
    masked = ll.nm.nm_prune(large)
    shapes = [
        (type(m), m.weight.shape, m.weight.dtype, m.weight.layout) for m in masked.modules() if hasattr(m, "weight")
    ]
    assert shapes == [
        (type(m), m.weight.shape, m.weight.dtype, m.weight.layout) for m in large.modules() if hasattr(m, "weight")
    ]
    if not report.disturbed():  # a busy machine's ratio is "not measurable now", not evidence either way
        speedup = report.ratio("latency_p50_b64", "dense", "2:4 zeros, dense kernel")
        assert speedup < 1.3, speedup  # nowhere near the 2x of sparse tensor cores

import pytest
import torch
from torch import nn

import lightlab as ll
from lightlab.techniques.lowrank import Factored, LowRankConfig


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


def _matrix(m=12, n=20, seed=0):
    return torch.randn(m, n, generator=torch.Generator().manual_seed(seed))


def test_factorize_at_full_rank_gives_the_matrix_back():
    w = _matrix()
    u, v = ll.lowrank.factorize(w, 12)
    assert u.shape == (12, 12) and v.shape == (12, 20) and u.dtype == w.dtype
    torch.testing.assert_close(u @ v, w, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("rank", [1, 3, 7])
def test_error_is_the_dropped_singular_values_eckart_young(rank):
    w = _matrix()
    s = torch.linalg.svdvals(w.double())
    u, v = ll.lowrank.factorize(w, rank)
    assert u.shape == (12, rank) and v.shape == (rank, 20)
    error = torch.linalg.matrix_norm(w.double() - u.double() @ v.double()) ** 2
    assert error.item() == pytest.approx((s[rank:] ** 2).sum().item(), rel=1e-5)
    # the best rank-r matrix: another rank-r matrix (a random one, or truncating a perturbed W) is worse
    other = ll.lowrank.factorize(w + 0.3 * _matrix(seed=1), rank)
    assert torch.linalg.matrix_norm(w - other[0] @ other[1]) ** 2 > error.item()


def test_factors_are_balanced_sqrt_s_on_each_side():
    w = _matrix()
    u, v = ll.lowrank.factorize(w, 5)
    s = torch.linalg.svdvals(w)[:5]
    torch.testing.assert_close(u.T @ u, torch.diag(s), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(v @ v.T, torch.diag(s), atol=1e-4, rtol=1e-4)


def test_factorize_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="at most 12"):
        ll.lowrank.factorize(_matrix(), 13)
    with pytest.raises(ValueError, match="2-D weight matrix.*flatten"):
        ll.lowrank.factorize(torch.zeros(4, 3, 3, 3), 2)
    with pytest.raises(TypeError, match="whole number"):
        ll.lowrank.factorize(_matrix(), 2.5)
    with pytest.raises(ValueError, match=">= 1"):
        ll.lowrank.factorize(_matrix(), 0)


def test_parameter_counts_and_break_even():
    assert ll.lowrank.factored_params(512, 2048, 16) == 16 * (512 + 2048)
    even = ll.lowrank.breakeven_rank(512, 2048)
    assert even == pytest.approx(409.6)
    assert ll.lowrank.factored_params(512, 2048, 409) < 512 * 2048 <= ll.lowrank.factored_params(512, 2048, 410)


def test_energy_rank_counts_the_share_of_squared_singular_values():
    s = torch.tensor([3.0, 2.0, 1.0, 1.0])  # s² = 9, 4, 1, 1 of 15
    assert ll.lowrank.energy_rank(s, 9 / 15) == 1
    assert ll.lowrank.energy_rank(s, 0.61) == 2
    assert ll.lowrank.energy_rank(s, 1.0) == 4


def test_factored_model_matches_at_full_rank_and_input_is_untouched(large, digits):
    before = {k: v.clone() for k, v in large.state_dict().items()}
    large.train()  # the caller's mode is the caller's: it comes back as it went in
    full = ll.lowrank.lowrank(large, LowRankConfig(rank={"6": 512, "2": 128, "0": 9}), task=digits)
    assert large.training and not full.training
    large.eval()
    assert {k: torch.equal(v, before[k]) for k, v in large.state_dict().items()} == dict.fromkeys(before, True)
    assert isinstance(large[6], nn.Linear)  # the input model still has its dense layer
    assert ll.lowrank.factored_layers(full) == {"0": 9, "2": 128, "6": 512}
    x = digits.example(32)
    torch.testing.assert_close(full(x), large(x), atol=1e-4, rtol=1e-4)


def test_low_rank_shrinks_the_real_model_and_keeps_its_accuracy(large, digits):
    low = ll.lowrank.lowrank(large, LowRankConfig(rank=16, layers=("6",)), task=digits)
    assert isinstance(low[6], Factored) and low[6].rank == 16
    assert [m.weight.shape for m in low[6]] == [torch.Size([16, 2048]), torch.Size([512, 16])]
    dense_other = ll.measure.count_params(large) - 2048 * 512
    assert ll.measure.count_params(low) == dense_other + 16 * (2048 + 512)
    assert ll.measure.serialized_size(low) < 0.15 * ll.measure.serialized_size(large)
    # the layer's singular values fall off a cliff after ~10: rank 16 keeps the accuracy, rank 2 does not
    assert ll.train.evaluate(low, digits) >= ll.train.evaluate(large, digits) - 0.02
    assert ll.train.evaluate(ll.lowrank.lowrank(large, LowRankConfig(rank=2, layers=("6",))), digits) < 0.8


def test_conv_becomes_kxk_to_r_channels_then_1x1(large, digits):
    low = ll.lowrank.lowrank(large, LowRankConfig(rank={"2": 32}))
    first, second = low[2]
    assert (first.in_channels, first.out_channels, first.kernel_size, first.padding) == (64, 32, (3, 3), (1, 1))
    assert (second.in_channels, second.out_channels, second.kernel_size) == (32, 128, (1, 1))
    assert first.bias is None and torch.equal(second.bias, large[2].bias)
    x = digits.example(8)
    # the conv's output is the rank-32 approximation of its weight applied to the input
    u, v = ll.lowrank.factorize(large[2].weight.flatten(1), 32)
    approx = nn.functional.conv2d(large[1](large[0](x)), (u @ v).view_as(large[2].weight), large[2].bias, padding=1)
    torch.testing.assert_close(low[:3](x), approx, atol=1e-4, rtol=1e-4)


def test_conv1d_model_is_factored_too():
    model = ll.zoo.pretrained("activity-small")
    conv = next(n for n, m in model.named_modules() if isinstance(m, nn.Conv1d))
    low = ll.lowrank.lowrank(model, LowRankConfig(rank={conv: 2}), example=torch.randn(3, 6, 128))
    assert isinstance(low.get_submodule(conv)[0], nn.Conv1d) and low.get_submodule(conv).rank == 2


def test_default_plan_factors_only_layers_that_get_smaller(large):
    plan = ll.lowrank.plan(large)  # energy 0.9 per layer
    for name, rank in plan.items():
        assert rank < ll.lowrank.breakeven_rank(*ll.lowrank.matrix_shape(large.get_submodule(name)))
    assert "0" not in plan  # the first conv (64 × 9) is already thin: no rank below 7.9 keeps 90 %
    assert ll.lowrank.plan(large, LowRankConfig(rank=16)) == {"2": 16, "6": 16}  # 16 > 9.8 for the 10 × 512 layer
    assert ll.lowrank.plan(large, LowRankConfig(energy=1.0, layers=("9",))) == {"9": 10}


def test_config_validation_names_the_problem():
    with pytest.raises(ValueError, match="not both"):
        LowRankConfig(rank=4, energy=0.9)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        LowRankConfig(energy=1.5)
    with pytest.raises(TypeError, match="whole number"):
        LowRankConfig(rank=True)
    with pytest.raises(ValueError, match=r"rank\['6'\]"):
        LowRankConfig(rank={"6": 0})
    with pytest.raises(ValueError, match="already names the layers"):
        LowRankConfig(rank={"6": 4}, layers=("6",))
    with pytest.raises(TypeError, match=r"\('6',\)"):
        LowRankConfig(rank=4, layers="6")
    with pytest.raises(ValueError, match="epochs"):
        LowRankConfig(rank=4, epochs=-1)
    with pytest.raises(ValueError, match="lr"):
        LowRankConfig(rank=4, lr=0)
    ranks = {"6": 4}
    cfg = LowRankConfig(rank=ranks)
    ranks["6"] = 400
    assert cfg.rank == {"6": 4}  # a copy: changing the caller's dict later changes nothing


def test_bad_requests_fail_before_any_work(large, digits):
    with pytest.raises(ValueError, match="no layer '7'.*'0', '2', '6', '9'"):
        ll.lowrank.lowrank(large, LowRankConfig(rank=4, layers=("7",)))
    with pytest.raises(ValueError, match="at most 10"):
        ll.lowrank.lowrank(large, LowRankConfig(rank={"9": 16}))
    with pytest.raises(ValueError, match="nothing to factor.*'6': 409.6"):
        ll.lowrank.lowrank(large, LowRankConfig(rank=500))
    with pytest.raises(ValueError, match="needs data"):
        ll.lowrank.lowrank(large, LowRankConfig(rank=8, layers=("6",), epochs=1))
    with pytest.raises(TypeError, match="LowRankConfig"):
        ll.lowrank.lowrank(large, {"rank": 4})


def test_fine_tuning_is_seeded_and_recovers_accuracy(large, digits):
    cfg = LowRankConfig(rank={"6": 4, "2": 8}, epochs=2)
    once, twice = (ll.lowrank.lowrank(large, cfg, task=digits) for _ in range(2))
    assert torch.equal(once[6][0].weight, twice[6][0].weight)  # same seed, same weights
    raw = ll.lowrank.lowrank(large, LowRankConfig(rank={"6": 4, "2": 8}))
    assert ll.train.evaluate(once, digits) > ll.train.evaluate(raw, digits) + 0.2
    assert isinstance(once[6], Factored) and once[6].rank == 4  # still factored after training


def test_rank_sweep_reports_measured_rows(large, digits):
    report = ll.lowrank.rank_sweep(large, (4, 64), task=digits, layers=("6",), batch_sizes=(1,), repeats=3)
    assert report.models() == ["original", "rank 4", "rank 64"]
    assert report.value("original", "rank") == 512 and report.value("rank 64", "rank") == 64
    assert report.value("rank 4", "size") < report.value("rank 64", "size") < report.value("original", "size")
    assert report.value("rank 4", "macs") < report.value("original", "macs")
    assert report.value("rank 4", "energy_kept") < report.value("rank 64", "energy_kept") < 100
    assert report.value("rank 4", "weight_error") > report.value("rank 64", "weight_error") > 0
    assert report.value("rank 4", "accuracy") < report.value("rank 64", "accuracy")
    timing = next(r for r in report.rows if r["model"] == "rank 4" and r["metric"] == "latency_p50_b1")
    assert "alternating rounds" in timing["method"] and timing["value"] > 0
    assert "torch.save" in next(r for r in report.rows if r["metric"] == "size")["method"]


def test_layer_timing_compares_one_layer_on_its_real_inputs(large, digits):
    report = ll.lowrank.layer_timing(large, "6", (8, 400), task=digits, batch_sizes=(1, 4), repeats=3)
    assert report.models() == ["dense", "rank 8", "rank 400"]
    assert report.value("rank 8", "mac_ratio") == pytest.approx(2048 * 512 / (8 * 2560))
    assert report.value("rank 8", "params") == 8 * 2560 + 512
    assert {r["metric"] for r in report.rows} >= {"latency_p50_b1", "latency_p50_b4"}
    with pytest.raises(ValueError, match="no layer 'fc'"):
        ll.lowrank.layer_timing(large, "fc", (8,), task=digits)


def test_a_whole_layer_model_and_onnx_int8_compose():
    layer = nn.Linear(64, 32)
    low = ll.lowrank.lowrank(layer, LowRankConfig(rank={"": 4}))
    assert isinstance(low, Factored) and isinstance(layer, nn.Linear)
    task = ll.load("digits")
    model = ll.lowrank.lowrank(ll.zoo.pretrained("digits-small"), LowRankConfig(rank={"1": 8}), task=task)
    int8 = ll.quantize.quantize(model, ll.quantize.QuantConfig(backend="onnxruntime", calibration=task))
    assert ll.train.evaluate(int8, task) > 0.8 and ll.measure.file_size(int8)[0] < ll.measure.serialized_size(model)


class _TiedHead(nn.Module):
    """A model whose forward reads a layer's weight itself (weight tying): factoring that layer must be refused."""

    def __init__(self):
        super().__init__()
        self.body, self.head = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return nn.functional.linear(torch.relu(self.body(x)), self.head.weight)


def test_a_forward_that_reads_weights_directly_gets_a_clear_error():
    model = _TiedHead()
    with pytest.raises(ValueError, match="uses a layer's weight directly"):
        ll.lowrank.lowrank(model, LowRankConfig(rank={"head": 2}), example=torch.randn(3, 8))
    low = ll.lowrank.lowrank(model, LowRankConfig(rank={"body": 4}), example=torch.randn(3, 8))
    assert ll.lowrank.factored_layers(low) == {"body": 4}

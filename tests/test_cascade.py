import math

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.techniques.adaptive import cascade, links


@pytest.fixture(scope="module")
def models():
    return ll.zoo.pretrained("digits-small"), ll.zoo.pretrained("digits-large")


def _count_calls(model: torch.nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_each_model_runs_once_per_split_then_every_threshold_is_arithmetic(digits):
    small, large = ll.zoo.pretrained("digits-small"), ll.zoo.pretrained("digits-large")
    calls = _count_calls(small), _count_calls(large)
    cascade.evaluate_cascade(small, large, digits, 0.5)
    after_first = [c[0] for c in calls]
    assert min(after_first) > 0
    cascade.evaluate_cascade(small, large, digits, 0.9, "Wi-Fi")
    cascade.sweep_thresholds(small, large, digits, "NB-IoT")
    assert [c[0] for c in calls] == after_first
    with torch.no_grad():  # retrained in place: the cached outcomes must not be served any more
        next(small.parameters()).add_(0.01)
    cascade.evaluate_cascade(small, large, digits, 0.9)
    assert calls[0][0] > after_first[0]


def test_threshold_0_keeps_everything_on_the_device(models, digits):
    small, large = models
    report = cascade.evaluate_cascade(small, large, digits, 0.0)
    name = "cascade (threshold 0)"
    assert report.value(name, "offload_share") == 0
    assert report.value(name, "data_sent_per_input") == 0
    assert report.value(name, "accuracy") == pytest.approx(100 * ll.train.evaluate(small, digits, metric="accuracy"))
    assert report.value(name, "latency_mean") == report.value("edge only (small)", "latency_mean")


def test_threshold_1_sends_everything_and_pays_the_round_trip(models, digits):
    small, large = models
    lte = links.NETWORKS["4G LTE"]
    report = cascade.evaluate_cascade(small, large, digits, 1.0, lte)
    name = "cascade (threshold 1)"
    o = cascade.outcomes(small, large, digits)
    assert report.value(name, "offload_share") == 100
    assert report.value(name, "accuracy") == pytest.approx(100 * ll.train.evaluate(large, digits, metric="accuracy"))
    assert report.value(name, "data_sent_per_input") == 64 * 4  # 8x8 float32 pixels
    expected = o.edge_ms + lte.rtt_ms + 8 * 256 / 6e6 * 1e3 + o.cloud_ms
    assert report.value(name, "latency_mean") == pytest.approx(expected)
    # the cloud-only system runs no model on the device: the cascade at 1 is slower by the edge model's latency
    assert report.value("cloud only (large)", "latency_mean") == pytest.approx(expected - o.edge_ms)
    assert all(r["method"] for r in report.rows)
    assert any(r["method"].startswith("modelled") for r in report.rows if r["metric"] == "energy_device_per_input")
    # the measured latencies the model is built from are rows of their own, timed in turns (measure.interleaved)
    assert report.value("edge only (small)", "latency_p50_b1") == o.edge_ms
    assert report.value("large on the device", "latency_p50_b1") == o.cloud_ms
    assert "alternating rounds" in o.timing_method


def test_offload_share_latency_and_bytes_grow_with_the_threshold(models, digits):
    df = cascade.sweep_thresholds(*models, digits, "Wi-Fi")
    assert df["threshold"].iloc[0] == 0 and df["threshold"].iloc[-1] == 1
    for column in ("offload_share", "latency_mean_ms", "energy_j", "bytes_sent"):
        assert np.all(np.diff(df[column]) >= 0), column
    assert df["offload_share"].iloc[0] == 0 and df["offload_share"].iloc[-1] == 100


def test_latency_and_energy_arithmetic_on_a_hand_made_network():
    toy = links.Network("toy", rtt_ms=10, uplink_mbps=1, radio_power_w=2, tail_s=1, tail_power_w=0.5)
    o = cascade.Outcomes(
        "toy",
        "test",
        np.array([0.3, 0.95]),
        np.array([False, True]),
        np.array([True, True]),
        payload_bytes=256,
        edge_ms=1.0,
        cloud_ms=6.0,
        edge_j=1e-3,
        large_j=5e-3,
    )
    assert o.timing_method == "given, not measured" and o.timing_note is None
    mask = cascade.offload_mask(o.confidence, 0.5)
    assert mask.tolist() == [True, False]
    latency, energy, sent = cascade.input_costs(o, mask, toy, cloud_speedup=2)
    assert latency.tolist() == pytest.approx([1 + 12.048 + 3, 1])
    assert energy.tolist() == pytest.approx([1e-3 + 2 * 15.048e-3 + 0.5, 1e-3])
    assert sent.tolist() == [256, 0]
    cloud_only, _, _ = cascade.input_costs(o, np.ones(2, bool), toy, edge=False)
    assert cloud_only.tolist() == pytest.approx([12.048 + 6] * 2)


def test_confidence_and_the_mask_at_the_edges():
    conf = cascade.confidence(torch.tensor([[0.0, 0.0], [10.0, -10.0]]))
    assert conf.tolist() == pytest.approx([0.5, 1.0])
    assert cascade.offload_mask(conf, 0.5).tolist() == [True, False]  # equal to the threshold: offloaded
    assert cascade.offload_mask(conf, 0).tolist() == [False, False]
    assert cascade.offload_mask(conf, 1).tolist() == [True, True]


def test_best_threshold_is_chosen_on_validation(models, digits):
    small, large = models
    chosen = cascade.best_threshold(small, large, digits, max_offload=0.3)
    val = cascade.sweep_thresholds(small, large, digits, split="val")
    allowed = val[val["offload_share"] <= 30]
    assert chosen in set(allowed["threshold"])
    row = allowed[allowed["threshold"] == chosen].iloc[0]
    assert row["accuracy"] == allowed["accuracy"].max()
    assert row["offload_share"] == allowed[allowed["accuracy"] == row["accuracy"]]["offload_share"].min()
    keep_all = cascade.best_threshold(small, large, digits, max_offload=0)
    assert val[val["threshold"] == keep_all]["accuracy"].iloc[0] == val["accuracy"].iloc[0]  # the small model's
    again = cascade.sweep_thresholds(small, large, digits, thresholds=[chosen], split="val")
    assert again["offload_share"].iloc[0] <= 30


def test_reliability_bins_hold_every_input(models, digits):
    o = cascade.outcomes(*models, digits, "val")
    table = cascade.reliability(o, bins=5)
    assert table["inputs"].sum() == len(o.confidence) == digits.sizes()["val"]
    top = table.iloc[-1]
    assert 0.8 <= top["mean_confidence"] <= 1 and top["accuracy"] > 0.9


def test_bad_inputs_say_what_to_do(models, digits):
    small, large = models
    for bad in (1.5, -0.1, math.nan):
        with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got " + str(bad)):
            cascade.evaluate_cascade(small, large, digits, bad)
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got 1.5"):
        cascade.sweep_thresholds(small, large, digits, thresholds=[0.5, 1.5])
    with pytest.raises(ValueError, match="unknown network 'carrier pigeon'; use one of Wi-Fi"):
        cascade.evaluate_cascade(small, large, digits, 0.5, "carrier pigeon")
    with pytest.raises(ValueError, match="cloud_speedup must be > 0"):
        cascade.evaluate_cascade(small, large, digits, 0.5, cloud_speedup=0)
    with pytest.raises(ValueError, match=r"max_offload must be in \[0, 1\], got 30"):
        cascade.best_threshold(small, large, digits, max_offload=30)
    with pytest.raises(ValueError, match="has 10 classes: its last layer should have 10 outputs"):
        cascade.evaluate_cascade(small, ll.zoo.mlp(64, 3), digits, 0.5)


def test_network_costs_compare_the_presets(models, digits):
    table = cascade.network_costs(*models, digits, 0.9)
    assert list(table["network"]) == list(links.NETWORKS)
    assert table.set_index("network")["cascade_latency_ms"].idxmax() == "NB-IoT"
    assert (table["cascade_energy_mj"] < table["cloud_only_energy_mj"]).all()


def test_the_cascade_module_answers_like_the_cached_arithmetic(models, digits):
    small, large = models
    for threshold in (0.0, 0.9, 1.0):
        module_accuracy = 100 * ll.train.evaluate(cascade.Cascade(small, large, threshold), digits, metric="accuracy")
        report = cascade.evaluate_cascade(small, large, digits, threshold)
        assert module_accuracy == pytest.approx(report.value(f"cascade (threshold {threshold:g})", "accuracy"))
    calls = _count_calls(large)
    cascade.Cascade(small, large, 0.0)(digits.example(8))
    assert calls[0] == 0  # nothing unsure at threshold 0: the large model never runs
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\], got -1"):
        cascade.Cascade(small, large, -1)


def test_the_paired_test_reads_the_same_inputs_as_the_report(models, digits):
    small, large = models
    report = cascade.evaluate_cascade(small, large, digits, 0.9)
    test = cascade.paired_test(small, large, digits, 0.9)
    assert test.names == ("cascade (threshold 0.9)", "cloud only (large)") and test.n == 360
    assert test.scores[0] == pytest.approx(report.value("cascade (threshold 0.9)", "accuracy"))
    assert test.scores[1] == pytest.approx(report.value("cloud only (large)", "accuracy"))
    everything = cascade.paired_test(small, large, digits, 1.0)  # every input offloaded: the large model itself
    assert everything.p_value == 1.0 and everything.difference == 0 and everything.better is None

"""ll.anomaly on the real shuttle data: the IsolationForest baseline, alarm rates, per-day figures."""

import math
import pickle

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.applications import anomaly
from lightlab.measurement import metrics


def test_task_is_scored_by_balanced_accuracy(shuttle):
    assert shuttle.metric == "balanced_accuracy" and shuttle.positive == "anomaly"


def test_zoo_pair_meets_the_size_and_quality_targets(shuttle, shuttle_small):
    large = ll.zoo.pretrained("shuttle-large")
    params = ll.measure.count_params
    assert params(large) >= 10 * params(shuttle_small) and params(shuttle_small) == 194
    assert ll.measure.serialized_size(large) >= 10 * ll.measure.serialized_size(shuttle_small)
    large_score, small_score = ll.train.evaluate(large, shuttle), ll.train.evaluate(shuttle_small, shuttle)
    assert large_score > 0.98 and small_score >= 0.95 * large_score


def test_forest_is_a_model_that_evaluate_and_latency_accept(shuttle, shuttle_forest):
    x = shuttle.example(5)
    logits = shuttle_forest(x)
    assert logits.shape == (5, 2) and logits.dtype == torch.float32 and (logits[:, 0] == 0).all()
    assert ll.train.evaluate(shuttle_forest, shuttle) > 0.95  # balanced accuracy, no label used in fitting
    assert ll.measure.latency(shuttle_forest, shuttle.example(1), warmup=1, repeats=3).p50 > 0
    # its size is the pickled forest's, give or take torch.save's container
    assert abs(ll.measure.serialized_size(shuttle_forest) - len(pickle.dumps(shuttle_forest.forest))) < 5_000
    assert (
        shuttle_forest.nodes > 50
        and "contamination 0.0" in shuttle_forest.method
        and "without labels" in shuttle_forest.method
    )


def test_forest_is_seeded_and_config_is_validated(shuttle, shuttle_forest):
    again = anomaly.isolation_forest(shuttle, anomaly.ForestConfig(n_estimators=50))
    assert torch.equal(shuttle_forest(shuttle.example(20)), again(shuttle.example(20)))
    normal_only = anomaly.isolation_forest(
        shuttle, anomaly.ForestConfig(n_estimators=10, fit_on="normal", contamination=0.01)
    )
    assert "normal training rows" in normal_only.method and "contamination 0.0100" in normal_only.method
    with pytest.raises(ValueError, match="fit_on.*'all', 'normal'"):
        anomaly.ForestConfig(fit_on="labelled")
    with pytest.raises(ValueError, match="contamination.*0.5"):
        anomaly.ForestConfig(contamination=0.7)
    with pytest.raises(ValueError, match="n_estimators >= 1"):
        anomaly.ForestConfig(n_estimators=0)


def test_alarm_rates_agree_with_metrics_and_move_with_the_threshold(shuttle, shuttle_small):
    labels, scores = anomaly.anomaly_scores(shuttle_small, shuttle)
    assert labels.sum() == 702 and len(labels) == 9820  # the test split's anomalies
    at_zero = anomaly.alarm_rates(labels, scores)
    assert at_zero["balanced_accuracy"] == pytest.approx(ll.train.evaluate(shuttle_small, shuttle))
    y, pred = metrics.predictions(shuttle_small, shuttle.test)
    assert at_zero["sensitivity"] == pytest.approx(metrics.sensitivity(metrics.confusion(y, pred, 2), 1))
    assert anomaly.alarm_rates(labels, scores, -math.inf)["sensitivity"] == 1.0
    everything = anomaly.alarm_rates(labels, scores, math.inf)
    assert everything["specificity"] == 1.0 and everything["missed"] == 702
    lower = anomaly.alarm_rates(labels, scores, -5.0)
    assert lower["sensitivity"] >= at_zero["sensitivity"] and lower["false_alarms"] >= at_zero["false_alarms"]


def test_per_day_arithmetic():
    assert anomaly.daily_false_alarms(0.999, 1.0, 1.0) == pytest.approx(86.4)
    rates = {"specificity": 0.99, "sensitivity": 0.9, "normal_share": 0.9}
    day = anomaly.per_day(rates, readings_per_second=2.0, cost_false_alarm=10, cost_missed=1000)
    assert day["false_alarms_per_day"] == pytest.approx(0.01 * 0.9 * 2 * 86_400)
    assert day["missed_per_day"] == pytest.approx(0.1 * 0.1 * 2 * 86_400)
    assert day["cost_per_day"] == pytest.approx(10 * day["false_alarms_per_day"] + 1000 * day["missed_per_day"])
    assert ll.checks.industrial.false_alarms_per_day(anomaly.daily_false_alarms).startswith("correct")


def test_compare_detectors_labels_every_number(shuttle, shuttle_small, shuttle_forest):
    report = anomaly.compare_detectors({"small": shuttle_small, "forest": shuttle_forest}, shuttle, repeats=3, rounds=2)
    assert report.value("small", "balanced_accuracy") > 95 and report.value("forest", "sensitivity") > 80
    assert report.value("forest", "params") == shuttle_forest.nodes
    assert report.value("small", "energy_modelled_per_inference") > 0
    modelled = next(r for r in report.rows if r["metric"] == "energy_modelled_per_inference")
    assert modelled["method"] == "modelled (server, Horowitz 2014, 45 nm)"  # a gateway: a small PC with DRAM
    assert not [r for r in report.rows if r["model"] == "forest" and r["metric"] == "energy_modelled_per_inference"]
    assert all(r["method"] for r in report.rows)
    # one timing rule: the detectors take turns and each keeps its best round
    timed = [r for r in report.rows if r["metric"] == "latency_p50_b1"]
    assert len(timed) == 2 and all("best of 2 alternating rounds of 3 runs" in r["method"] for r in timed)


def test_response_times_add_assumed_round_trips_to_measured_latency():
    measured = ll.Report().add("small", "latency_p50_b1", 0.02, "ms", "a test timing", note="disturbed: a test")
    measured.add("large", "latency_p50_b1", 0.5, "ms", "a test timing")
    report = anomaly.response_times(measured, ["small"])
    assert len(report) == len(anomaly.ASSUMED_RTT_MS) and report.models()[0] == "small @ gateway on the plant LAN"
    satellite = report.value("small @ cloud, GEO satellite", "response_time")
    assert satellite == pytest.approx(anomaly.ASSUMED_RTT_MS["cloud, GEO satellite"] + 0.02)
    assert all("assumed" in r["method"] and "measured" in r["method"] and "20.0 µs" in r["method"] for r in report.rows)
    assert all(r["note"].startswith("disturbed") for r in report.rows)  # the timing's note goes with it
    assert len(anomaly.response_times(measured)) == 2 * len(anomaly.ASSUMED_RTT_MS)
    with pytest.raises(KeyError, match="no batch-1 latency for forest"):
        anomaly.response_times(measured, ["forest"])


def test_threshold_curve_is_monotonic(shuttle, shuttle_small):
    curve = anomaly.threshold_curve(*anomaly.anomaly_scores(shuttle_small, shuttle, "val"), points=21)
    assert len(curve["threshold"]) == 21
    assert np.all(np.diff(curve["sensitivity"]) <= 0) and np.all(np.diff(curve["specificity"]) >= 0)


def test_scores_need_a_positive_class(shuttle, shuttle_small):
    digits = ll.load("digits")
    with pytest.raises(ValueError, match="positive class"):
        anomaly.anomaly_scores(shuttle_small, digits)

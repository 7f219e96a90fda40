"""ll.screening: 'any arrhythmia' screening rates, thresholds, battery days, and the shipped ECG models' targets."""

import numpy as np
import pytest

import lightlab as ll
from lightlab.applications import screening


@pytest.fixture(scope="module")
def task():
    return ll.load("ecg")


def test_screening_counts_any_arrhythmia_as_caught():
    cm = np.array([[90, 6, 4], [5, 80, 15], [0, 10, 90]])
    scores = screening.screening_rates(cm)
    assert scores["sensitivity"] == pytest.approx(195 / 200)  # an AF called PVC still raises the alarm
    assert scores["specificity"] == pytest.approx(0.9)


def test_screening_rows_turn_specificity_into_false_alarms_a_day():
    report = screening.add_screening_rows(ll.Report(), "m", {"sensitivity": 0.9, "specificity": 0.99}, "a test")
    assert report.value("m", "sensitivity") == pytest.approx(90) and report.value("m", "specificity") == 99
    assert report.value("m", "false_alarms_per_day") == pytest.approx(0.01 * screening.WINDOWS_PER_DAY)
    assert all("a test" in r["method"] for r in report.rows)


def test_ppv_is_bayes_and_equals_precision_at_the_data_sets_own_prevalence():
    # 90 % sensitivity, 95 % specificity, 1 % prevalence: 0.9 x 0.01 / (0.9 x 0.01 + 0.05 x 0.99) = 15.4 %
    assert screening.ppv(0.9, 0.95, 0.01) == pytest.approx(0.009 / (0.009 + 0.0495))
    cm = np.array([[90, 6, 4], [5, 80, 15], [0, 10, 90]])  # 200 arrhythmic windows of 300: prevalence 2/3
    rates = screening.screening_rates(cm)
    assert screening.ppv(rates["sensitivity"], rates["specificity"], 200 / 300) == pytest.approx(rates["precision"])
    assert rates["precision"] == pytest.approx(195 / 205)
    assert screening.ppv(1.0, 1.0, 0.01) == 1.0 and screening.ppv(0.9, 0.95, 0.02) > screening.ppv(0.9, 0.95, 0.01)
    with pytest.raises(ValueError, match="not 95"):
        screening.ppv(95, 0.9, 0.01)
    with pytest.raises(ValueError, match="0.01 for 1 %"):
        screening.ppv(0.9, 0.9, 1.0)


def test_ppv_report_puts_the_test_split_beside_screening_prevalences(task):
    small = ll.zoo.pretrained("ecg-small")
    report = screening.ppv_report({"small": small}, task)
    assert [r["metric"] for r in report.rows] == ["ppv_test_split", "ppv_at_1%_prevalence", "ppv_at_2%_prevalence"]
    y, pred = ll.metrics.predictions(small, task.loader("test", batch_size=256))
    rates = screening.screening_rates(ll.metrics.confusion(y, pred, 3))
    assert report.value("small", "ppv_test_split") == pytest.approx(100 * rates["precision"])
    at_1 = 100 * screening.ppv(rates["sensitivity"], rates["specificity"], 0.01)
    assert report.value("small", "ppv_at_1%_prevalence") == pytest.approx(at_1)
    # At 1 % prevalence most alarms are false even for a specific model: far below the test split's PPV.
    assert report.value("small", "ppv_at_1%_prevalence") < report.value("small", "ppv_at_2%_prevalence")
    assert report.value("small", "ppv_at_2%_prevalence") < report.value("small", "ppv_test_split")


def test_roc_and_operating_point():
    truth = np.array([True, True, False, False])
    scores = np.array([0.9, 0.4, 0.6, 0.1])
    assert screening.operating_point(truth, scores, 0.5) == {"sensitivity": 0.5, "specificity": 0.5}
    curve = screening.roc(truth, scores)
    assert curve["auc"] == pytest.approx(0.75)
    assert curve["sensitivity"][0] == 0 and curve["sensitivity"][-1] == 1


def test_battery_days():
    # 200 mAh at 3.7 V = 2,664 J; 1 mJ per window x 21,094 windows a day = 21.1 J a day
    assert screening.battery_life_days(1e-3) == pytest.approx(2664 / (1e-3 * screening.WINDOWS_PER_DAY))
    assert screening.WINDOWS_PER_DAY == pytest.approx(86400 / 4.096)
    with pytest.raises(ValueError, match="all > 0"):
        screening.battery_life_days(1e-3, capacity_mah=0)
    report = ll.Report().add("m", "energy_modelled_per_inference", 2e-6, "J", "modelled (test)")
    row = screening.battery_report(report).rows[0]
    assert row["metric"] == "battery_days (modelled)" and "modelled (test)" in row["method"] and row["unit"] == "days"
    below = ll.Report().add("m", "energy_above_idle_per_inference", -1e-6, "J", "estimated (test)")
    row = screening.battery_report(below).rows[0]  # below the idle draw: no figure rather than a wrong one
    assert row["value"] != row["value"] and row["note"].startswith("no figure: the energy reads -1e-06 J, at or below")


def test_shipped_models_meet_the_domain_targets(task):
    large, small = ll.zoo.pretrained("ecg-large"), ll.zoo.pretrained("ecg-small")
    ba = {name: ll.train.evaluate(m, task) for name, m in (("large", large), ("small", small))}
    assert ba["large"] > 0.9 and ba["small"] >= 0.95 * ba["large"]
    assert ll.measure.count_params(large) >= 10 * ll.measure.count_params(small)
    assert ll.measure.serialized_size(large) >= 10 * ll.measure.serialized_size(small)


def test_small_cnn_takes_ecg_windows_and_arrhythmia_scores_are_probabilities(task):
    model = screening.small_cnn((4, 8), seed=0)
    assert model(task.example(2)).shape == (2, 3)
    truth, scores = screening.arrhythmia_scores(model, task, "val")
    assert len(truth) == len(scores) == task.sizes()["val"] and truth.mean() == pytest.approx(2 / 3)
    assert ((scores >= 0) & (scores <= 1)).all()

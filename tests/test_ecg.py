"""The synthetic ECG task (ll.ecg): seeded, balanced, split by patient, with the rhythms it claims."""

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.data import ecg
from lightlab.data.tasks import DataError


@pytest.fixture(scope="module")
def task():
    return ll.load("ecg")


@pytest.fixture(scope="module")
def clean():
    """Noise-free windows (the heart alone), where beats can be found by a simple threshold."""
    return ecg.generate(patients=20, per_class=10, seed=3, noise=False)


def _beats(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Return (R-peak times in s, half-height width in samples of each QRS) of one clean window."""
    a = np.abs(x - np.median(x))
    peaks = [i for i in range(1, len(a) - 1) if a[i] >= 0.6 * a.max() and a[i] == a[max(0, i - 30) : i + 31].max()]
    widths = [int(np.sum(a[max(0, i - 15) : i + 16] >= a[i] / 2)) for i in peaks]
    return np.array(peaks) / ecg.RATE, widths


def test_metadata_says_synthetic_and_healthcare(task):
    assert task.name == "ecg" and task.domain == "healthcare" and task.synthetic
    assert "synthetic" in task.description.lower()
    assert task.input_shape == (1, ecg.WINDOW) and task.sample_rate == ecg.RATE == 125
    assert task.classes == ["normal", "atrial fibrillation", "premature ventricular beats"]
    assert task.metric == "balanced_accuracy"
    x, y = task.splits["train"].tensors
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and torch.isfinite(x).all()


def test_generation_is_seeded():
    a, b = ecg.generate(patients=4, per_class=2, seed=1), ecg.generate(patients=4, per_class=2, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x"], ecg.generate(patients=4, per_class=2, seed=2)["x"])
    # noise=False gives the same heartbeats without the noise
    heart = ecg.generate(patients=4, per_class=2, seed=1, noise=False)["x"]
    assert 0.02 < float(np.std(a["x"] - heart)) < 0.5


def test_classes_balanced_and_splits_patient_disjoint(task, monkeypatch):
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    full = ll.load("ecg")
    assert full.sizes() == {"train": 3240, "val": 1080, "test": 1080}
    who = {split: set(ecg.patients(full, split)) for split in full.splits}
    assert [len(who[s]) for s in ("train", "val", "test")] == [90, 30, 30]
    assert not (who["train"] & who["val"] or who["train"] & who["test"] or who["val"] & who["test"])
    for split, ds in full.splits.items():
        assert torch.bincount(ds.tensors[1], minlength=3).tolist() == [len(ds) // 3] * 3, split
    # quick mode halves train only, still from every training patient
    assert task.sizes()["train"] == 1620 and set(ecg.patients(task, "train")) == who["train"]
    assert torch.equal(task.splits["test"].tensors[0], full.splits["test"].tensors[0])
    other = ll.load("ecg", seed=1)
    assert not torch.equal(other.splits["test"].tensors[0], full.splits["test"].tensors[0])


def test_af_is_irregular_and_pvcs_are_wide(clean):
    x, labels = clean["x"][:, 0], clean["labels"]
    irregularity, widest = {}, {}
    for k in range(3):
        beats = [_beats(w) for w in x[labels == k]]
        # spread of successive RR intervals relative to their mean
        irregularity[k] = np.median([np.std(np.diff(t)) / np.mean(np.diff(t)) for t, _ in beats if len(t) > 3])
        widest[k] = np.median([max(widths) for _, widths in beats])
    assert irregularity[1] > 2 * irregularity[0]  # AF: irregularly irregular
    assert widest[2] >= 1.5 * widest[0]  # a PVC's QRS is wide (median 7 samples here), a sinus QRS narrow (4)


def test_windows_cut_a_recording_and_refuse_bad_input():
    recording = np.random.default_rng(0).normal(size=10 * ecg.RATE)  # 10 s at 125 Hz
    assert ecg.windows(recording, 125).shape == (2, 1, ecg.WINDOW)
    assert ecg.windows(recording, 125, step=256).shape == (3, 1, ecg.WINDOW)
    with pytest.raises(DataError, match="resample to 125 Hz"):
        ecg.windows(recording, 250)
    with pytest.raises(DataError, match="at least 512 samples"):
        ecg.windows(recording[:300], 125)
    with pytest.raises(DataError, match="single lead"):
        ecg.windows(np.zeros((2, 2000)), 125)


def test_check_input_names_shape_and_rate(task):
    with pytest.raises(DataError, match=r"512 samples at 125 Hz"):
        task.check_input(torch.zeros(2, 1, 1000))


def test_screening_counts_any_arrhythmia_as_caught():
    cm = np.array([[90, 6, 4], [5, 80, 15], [0, 10, 90]])
    scores = ecg.screening(cm)
    assert scores["sensitivity"] == pytest.approx(195 / 200)  # an AF called PVC still raises the alarm
    assert scores["specificity"] == pytest.approx(0.9)


def test_roc_and_operating_point():
    truth = np.array([True, True, False, False])
    scores = np.array([0.9, 0.4, 0.6, 0.1])
    assert ecg.operating_point(truth, scores, 0.5) == {"sensitivity": 0.5, "specificity": 0.5}
    curve = ecg.roc(truth, scores)
    assert curve["auc"] == pytest.approx(0.75)
    assert curve["sensitivity"][0] == 0 and curve["sensitivity"][-1] == 1


def test_battery_days():
    # 200 mAh at 3.7 V = 2,664 J; 1 mJ per window x 21,094 windows a day = 21.1 J a day
    assert ecg.battery_days(1e-3) == pytest.approx(2664 / (1e-3 * ecg.WINDOWS_PER_DAY))
    assert ecg.WINDOWS_PER_DAY == pytest.approx(86400 / 4.096)
    with pytest.raises(ValueError, match="all > 0"):
        ecg.battery_days(1e-3, capacity_mah=0)
    report = ll.Report().add("m", "energy_modelled_per_inference", 2e-6, "J", "modelled (test)")
    row = ecg.battery_report(report).rows[0]
    assert row["metric"] == "battery_days (energy_modelled_per_inference)" and "modelled (test)" in row["method"]


def test_shipped_models_meet_the_domain_targets(task):
    large, small = ll.zoo.pretrained("ecg-large"), ll.zoo.pretrained("ecg-small")
    ba = {name: ll.train.evaluate(m, task) for name, m in (("large", large), ("small", small))}
    assert ba["large"] > 0.9 and ba["small"] >= 0.95 * ba["large"]
    assert ll.measure.count_params(large) >= 10 * ll.measure.count_params(small)
    assert ll.measure.serialized_size(large) >= 10 * ll.measure.serialized_size(small)


def test_threshold_explorer_trades_sensitivity_for_specificity(task):
    models = {"large": ll.zoo.pretrained("ecg-large"), "small": ll.zoo.pretrained("ecg-small")}
    explorer = ecg.ThresholdExplorer(models, task, split="val")
    explorer.threshold.value = 0.05
    low = explorer.result
    explorer.threshold.value = 0.95
    high = explorer.result
    assert explorer.runs == 2
    for name in models:
        assert low.value(name, "sensitivity") >= high.value(name, "sensitivity")
        assert low.value(name, "specificity") <= high.value(name, "specificity")
    assert "false alarms a day" in explorer.summary.value

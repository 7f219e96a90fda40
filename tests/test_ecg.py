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
    return ecg.generate_ecg(patients=20, per_class=10, seed=3, noise=False)


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
    a, b = ecg.generate_ecg(patients=4, per_class=2, seed=1), ecg.generate_ecg(patients=4, per_class=2, seed=1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x"], ecg.generate_ecg(patients=4, per_class=2, seed=2)["x"])
    # noise=False gives the same heartbeats without the noise
    heart = ecg.generate_ecg(patients=4, per_class=2, seed=1, noise=False)["x"]
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

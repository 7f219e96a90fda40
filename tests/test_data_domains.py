"""The domain data sets (shuttle, spoken_digits): shapes, class counts, checksums, seeded splits, finite values."""

import shutil

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab import data

EXPECTED = {  # name: (input_shape, classes, domain, total rows, rows per class)
    "shuttle": ((9,), ["normal", "anomaly"], "industrial", 49097, [45586, 3511]),
    "spoken_digits": ((1, 32, 13), [str(d) for d in range(10)], "wearables", 3000, [300] * 10),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def task(request):
    return ll.load(request.param)


def test_listed_by_names():
    assert set(EXPECTED) <= set(data.names())


def test_metadata_and_shapes(task):
    shape, classes, domain, _, _ = EXPECTED[task.name]
    assert task.input_shape == shape and task.classes == classes and task.domain == domain
    assert task.metric == "accuracy" and task.description
    for x, y in (ds.tensors for ds in task.splits.values()):
        assert x.shape[1:] == shape and x.dtype == torch.float32 and y.dtype == torch.int64
    xb, yb = next(iter(task.train))
    assert xb.shape == (64, *shape) and yb.shape == (64,)


def test_class_counts_and_stratified_split(task, monkeypatch):
    _, classes, _, total, per_class = EXPECTED[task.name]
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    full = ll.load(task.name)
    labels = torch.cat([ds.tensors[1] for ds in full.splits.values()])
    assert len(labels) == total and torch.bincount(labels, minlength=len(classes)).tolist() == per_class
    share = np.array(per_class) / total
    for name, fraction in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        counts = torch.bincount(full.splits[name].tensors[1], minlength=len(classes)).numpy()
        assert abs(len(full.splits[name]) / total - fraction) < 0.01
        assert np.allclose(counts / counts.sum(), share, atol=0.005)  # every split keeps the class balance
    # quick mode (the test default) halves only the training split
    assert task.sizes()["train"] == full.sizes()["train"] // 2
    assert task.sizes()["test"] == full.sizes()["test"]


def test_values_finite_and_standardised(task):
    x = task.splits["train"].tensors[0]
    assert torch.isfinite(x).all()
    assert abs(float(x.mean())) < 0.1 and 0.5 < float(x.std()) < 1.5
    data.check_inputs(task.splits["test"].tensors[0])


def test_split_is_seeded(task):
    again = ll.load(task.name)
    for name in task.splits:
        assert torch.equal(task.splits[name].tensors[0], again.splits[name].tensors[0])
    other = ll.load(task.name, seed=1)
    assert not torch.equal(task.splits["test"].tensors[0], other.splits["test"].tensors[0])


def test_spoken_digits_padding_is_zero_after_the_recording(monkeypatch):
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    x = ll.load("spoken_digits").splits["train"].tensors[0]
    silent_tail = (x[:, 0, -1, :] == 0).all(dim=1)
    assert 0.9 < float(silent_tail.float().mean()) < 1.0  # ~98 % are shorter than 32 frames; the rest are cropped


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corrupted_file_is_refused(name, tmp_path, monkeypatch):
    shutil.copytree(ll.config.datasets_dir() / name, tmp_path / name)
    with open(tmp_path / name / f"{name}.npz", "r+b") as f:
        f.seek(200)
        f.write(b"\x00\x01\x02")
    monkeypatch.setenv("LIGHTLAB_DATA", str(tmp_path))
    expected = data.CHECKSUMS[f"{name}/{name}.npz"][:8]
    with pytest.raises(data.DataError, match=f"corrupted.*sha256.*{expected}"):
        ll.load(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_file_matches_its_checksum(name):
    path = ll.config.datasets_dir() / name / f"{name}.npz"
    assert data.sha256(path) == data.CHECKSUMS[f"{name}/{name}.npz"]
    assert path.stat().st_size < 3_000_000  # small enough to ship in the repository

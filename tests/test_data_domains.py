"""The domain data sets (shuttle, spoken_digits, activity, faces): shapes, class counts, checksums, seeded splits,
finite values; activity is split by person."""

import shutil

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.data import loaders, tasks

EXPECTED = {  # name: (input_shape, classes, domain, total rows, rows per class, metric)
    "shuttle": ((9,), ["normal", "anomaly"], "industrial", 49097, [45586, 3511], "balanced_accuracy"),
    "spoken_digits": ((1, 32, 13), [str(d) for d in range(10)], "wearables", 3000, [300] * 10, "accuracy"),
    "activity": (
        (6, 128),
        ["walking", "upstairs", "downstairs", "sitting", "standing", "lying"],
        "wearables",
        4249,
        [630, 911, 908, 600, 600, 600],
        "balanced_accuracy",
    ),
    "faces": ((1, 25, 25), ["non-face", "face"], "wearables", 200, [100, 100], "accuracy"),
}
SPLIT_BY_PERSON = {"activity"}  # whole people per split: class shares follow the people, not a stratified draw


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def task(request):
    return ll.load(request.param)


def test_listed_by_names():
    assert set(EXPECTED) <= set(loaders.names())


def test_metadata_and_shapes(task):
    shape, classes, domain, _, _, metric = EXPECTED[task.name]
    assert task.input_shape == shape and task.classes == classes and task.domain == domain
    assert task.metric == metric and task.description
    assert task.positive in (None, *task.classes)
    for x, y in (ds.tensors for ds in task.splits.values()):
        assert x.shape[1:] == shape and x.dtype == torch.float32 and y.dtype == torch.int64
    xb, yb = next(iter(task.train))
    batch = min(task.batch_size, task.sizes()["train"])  # faces' quick-mode train split holds only 60
    assert xb.shape == (batch, *shape) and yb.shape == (batch,)


def test_class_counts_and_stratified_split(task, monkeypatch):
    _, classes, _, total, per_class, _ = EXPECTED[task.name]
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    full = ll.load(task.name)
    labels = torch.cat([ds.tensors[1] for ds in full.splits.values()])
    assert len(labels) == total and torch.bincount(labels, minlength=len(classes)).tolist() == per_class
    share = np.array(per_class) / total
    for name, fraction in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
        counts = torch.bincount(full.splits[name].tensors[1], minlength=len(classes)).numpy()
        assert abs(len(full.splits[name]) / total - fraction) < 0.01
        if task.name not in SPLIT_BY_PERSON:
            assert np.allclose(counts / counts.sum(), share, atol=0.005)  # every split keeps the class balance
    # quick mode (the test default) halves only the training split
    assert task.sizes()["train"] == full.sizes()["train"] // 2
    assert task.sizes()["test"] == full.sizes()["test"]


def test_values_finite_and_standardised(task):
    x = task.splits["train"].tensors[0]
    assert torch.isfinite(x).all()
    assert abs(float(x.mean())) < 0.1 and 0.5 < float(x.std()) < 1.5
    tasks.check_inputs(task.splits["test"].tensors[0])


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
    expected = tasks.CHECKSUMS[f"{name}/{name}.npz"][:8]
    with pytest.raises(tasks.DataError, match=f"corrupted.*sha256.*{expected}"):
        ll.load(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_file_matches_its_checksum(name):
    path = ll.config.datasets_dir() / name / f"{name}.npz"
    assert tasks.sha256(path) == tasks.CHECKSUMS[f"{name}/{name}.npz"]
    assert path.stat().st_size < 3_000_000  # small enough to ship in the repository


def test_activity_people_are_never_in_two_splits(monkeypatch):
    people = {name: set(ids.tolist()) for name, ids in loaders.activity_users(0).items()}
    assert [len(people[s]) for s in ("train", "val", "test")] == [18, 6, 6]
    assert set.union(*people.values()) == set(range(1, 31))
    assert not (people["train"] & people["val"] or people["train"] & people["test"] or people["val"] & people["test"])
    assert people["test"] == {3, 5, 11, 12, 22, 27}  # the list in datasets/activity/DATASHEET.md
    assert {n: len(ids) for n, ids in loaders.activity_users(0).items()} == ll.load("activity").sizes()
    assert set(loaders.activity_users(1)["test"].tolist()) != people["test"]  # another seed, other people
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    windows_per_person = np.bincount(np.concatenate(list(loaders.activity_users(0).values())))[1:]
    assert windows_per_person.sum() == 4249 and 140 <= windows_per_person.min() <= windows_per_person.max() <= 162


def test_activity_windows_are_2_56_s_at_50_hz_overlapping_by_half():
    x, labels, users = loaders._activity_windows()  # in file order, before splitting and standardising
    assert x.shape == (4249, 6, 128) and len(labels) == len(users) == 4249
    assert np.array_equal(x[0, :, 64:], x[1, :, :64])  # consecutive windows of one bout share 64 samples
    assert 0.9 < np.linalg.norm(x[:, :3].mean(axis=2), axis=1).mean() < 1.1  # accelerometer in g: gravity ~ 1
    task = ll.load("activity")
    assert task.sample_rate == 50.0
    with pytest.raises(tasks.DataError, match="128 samples at 50 Hz = 2.56 s"):
        task.check_input(torch.zeros(1, 6, 100))


def test_faces_detector_metadata():
    task = ll.load("faces")
    assert task.positive == "face" and task.sizes()["test"] == 40 and not task.synthetic

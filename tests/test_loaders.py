import shutil

import pytest
import torch

import lightlab as ll
from lightlab.data import loaders, tasks


def test_digits_task_metadata(digits):
    assert digits.name == "digits" and digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert digits.metric == "accuracy"
    sizes = digits.sizes()
    assert sizes["val"] == 359 and sizes["test"] == 360
    assert sizes["train"] == 1078 // 2  # quick mode halves the training split only


def test_full_mode_uses_every_image(monkeypatch):
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    assert sum(loaders.load("digits").sizes().values()) == 1797


def test_split_is_seeded_and_disjoint(digits):
    again = loaders.load("digits")
    assert torch.equal(digits.splits["test"].tensors[0], again.splits["test"].tensors[0])
    other = loaders.load("digits", seed=1)
    assert not torch.equal(digits.splits["test"].tensors[0], other.splits["test"].tensors[0])
    flat = {name: {tuple(x.flatten().tolist()) for x in ds.tensors[0]} for name, ds in digits.splits.items()}
    assert len(flat["train"] & flat["test"]) < 5  # a handful of identical images exist in the raw data


def test_inputs_are_scaled_and_labels_balanced(digits):
    x, y = digits.splits["test"].tensors
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.bincount(y, minlength=10).min() >= 34  # stratified: every class ~36 times


def test_loader_batches(digits):
    xb, yb = next(iter(digits.train))
    assert xb.shape == (64, 1, 8, 8) and yb.shape == (64,)
    assert digits.example(500).shape == (500, 1, 8, 8)  # repeats past the split's end


def test_unknown_task_lists_valid_names():
    with pytest.raises(tasks.DataError, match="unknown task 'mnist'.*digits"):
        ll.load("mnist")


def test_corrupted_file_is_refused(tmp_path, monkeypatch):
    shutil.copytree(ll.config.datasets_dir() / "digits", tmp_path / "digits")
    with open(tmp_path / "digits" / "digits.npz", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    monkeypatch.setenv("LIGHTLAB_DATA", str(tmp_path))
    with pytest.raises(tasks.DataError, match="corrupted.*sha256.*223ad079"):
        ll.load("digits")


def test_missing_file_says_how_to_restore(tmp_path, monkeypatch):
    monkeypatch.setenv("LIGHTLAB_DATA", str(tmp_path))
    with pytest.raises(tasks.DataError, match="missing.*git checkout"):
        ll.load("digits")

"""Task: splits, batches and input checks, on a small hand-made task (no file needed)."""

import numpy as np
import pytest
import torch

from lightlab.data import tasks


def _task(quick: bool, monkeypatch) -> tasks.Task:
    monkeypatch.setenv("LIGHTLAB_QUICK", "1" if quick else "0")
    labels = np.repeat(np.arange(3), 20)
    x = torch.arange(60, dtype=torch.float32).reshape(60, 1, 1).expand(60, 1, 4).contiguous()
    parts = tasks.split_indices(labels, seed=0)
    return tasks.Task("toy", "test", (1, 4), ["a", "b", "c"], "accuracy", tasks.make_splits(x, labels, parts))


def test_splits_are_stratified_disjoint_and_cover_everything(monkeypatch):
    task = _task(False, monkeypatch)
    assert task.sizes() == {"train": 36, "val": 12, "test": 12}
    seen = [set(task.splits[s].tensors[0][:, 0, 0].tolist()) for s in ("train", "val", "test")]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert len(set.union(*seen)) == 60
    assert torch.bincount(task.splits["test"].tensors[1], minlength=3).tolist() == [4, 4, 4]


def test_quick_mode_halves_only_train(monkeypatch):
    assert _task(True, monkeypatch).sizes() == {"train": 18, "val": 12, "test": 12}


def test_unknown_split_and_wrong_shapes_are_named(monkeypatch):
    task = _task(False, monkeypatch)
    with pytest.raises(tasks.DataError, match="unknown split 'dev'.*'test'"):
        task.loader("dev")
    with pytest.raises(tasks.DataError, match=r"shape \[batch, 1, 4\], got \[2, 1, 5\]"):
        task.check_input(torch.zeros(2, 1, 5))
    assert task.example(20).shape == (20, 1, 4)


def test_nan_inputs_are_rejected():
    with pytest.raises(tasks.DataError, match="NaN"):
        tasks.check_inputs(torch.tensor([1.0, float("nan")]))

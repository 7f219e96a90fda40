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


def test_your_own_arrays_become_a_seeded_stratified_task():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 3, 4)), np.repeat(np.arange(4), 25)
    task = tasks.Task.from_arrays(x, y, name="mine", classes=["a", "b", "c", "d"])
    assert task.input_shape == (3, 4) and task.classes == ["a", "b", "c", "d"] and task.domain == "your data"
    assert task.sizes() == {"train": 60, "val": 20, "test": 20}
    assert sorted(task.splits["test"].tensors[1].tolist()) == sorted(np.repeat(np.arange(4), 5).tolist())
    again = tasks.Task.from_arrays(x, y, name="mine")
    assert torch.equal(task.splits["train"].tensors[0], again.splits["train"].tensors[0])  # same seed, same split
    assert again.classes == ["0", "1", "2", "3"]


def test_a_dataloader_becomes_a_task_and_trains():
    from torch.utils.data import DataLoader, TensorDataset

    from lightlab.techniques import train

    x, y = torch.randn(90, 8), torch.arange(90) % 3
    task = tasks.Task.from_loader(DataLoader(TensorDataset(x, y), batch_size=16))
    assert task.sizes() == {"train": 54, "val": 18, "test": 18} and task.num_classes == 3
    model = torch.nn.Linear(8, 3)
    with pytest.raises(TypeError, match=r"fit_ trains on a Task .*got DataLoader.*ll.Task.from_loader\(loader\)"):
        train.fit_(model, DataLoader(TensorDataset(x, y)), epochs=1, progress=False)
    assert train.fit_(model, task, epochs=1, progress=False).best_epoch == 0


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((6, 2)), [0, 1, 2, 0, 1, 17], r"label 17 is outside the 3 classes .*labels must be 0 \.\. 2"),
        (np.zeros((6, 2)), [0, 1, 0, 1, 0], "x has 6 samples but y has 5 labels"),
        (np.zeros((0, 2)), [], r"x must hold samples along its first axis.*\[0, 2\]"),
        (np.zeros(6), [0] * 6, r"x must hold samples along its first axis.*\[6\]"),
        (np.full((6, 2), np.nan), [0, 1] * 3, "NaN/infinite"),
        (np.zeros((6, 2)), [0, 1, 0.5, 1, 0, 1], "fractional, NaN or infinite labels"),
        (np.zeros((6, 2)), ["cat", "dog"] * 3, "class indices 0, 1, 2"),
        (np.zeros((6, 2)), [0, -1] * 3, "class indices 0, 1, 2"),
        ([["a", "b"]] * 6, [0, 1] * 3, "x must be numbers"),
        (np.zeros((3, 2)), [0, 1, 0], "too few for train, val and test"),
    ],
)
def test_bad_arrays_are_named_with_the_fix(x, y, message):
    classes = ["a", "b", "c"] if "outside" in message else None
    with pytest.raises(tasks.DataError, match=message):
        tasks.Task.from_arrays(x, y, classes=classes)


def test_a_task_with_an_empty_split_is_refused_when_built():
    from torch.utils.data import TensorDataset

    full = TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    empty = TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(tasks.DataError, match="task 'mine' has an empty test split"):
        tasks.Task("mine", "x", (2,), ["a"], "accuracy", {"train": full, "val": full, "test": empty})

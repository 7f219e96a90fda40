"""Scores beyond accuracy, checked by hand on small confusion matrices and on the real shuttle data."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import lightlab as ll
from lightlab.measurement import metrics
from lightlab.measurement.measure import task_scores


def test_confusion_counts_rows_true_columns_predicted():
    cm = metrics.confusion([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]


def test_scores_by_hand():
    # 90 normal (80 right), 10 faults (6 caught)
    cm = np.array([[80, 10], [4, 6]])
    assert metrics.accuracy(cm) == pytest.approx(0.86)
    assert metrics.balanced_accuracy(cm) == pytest.approx((80 / 90 + 6 / 10) / 2)
    b = metrics.binary(cm, positive=1)
    assert b["sensitivity"] == pytest.approx(0.6) and b["specificity"] == pytest.approx(80 / 90)
    assert b["precision"] == pytest.approx(6 / 16)
    assert b["f1"] == pytest.approx(2 * 0.375 * 0.6 / 0.975)
    f1_normal, f1_fault = 2 * 80 / (84 + 90), 2 * 6 / (16 + 10)
    assert metrics.macro_f1(cm) == pytest.approx((f1_normal + f1_fault) / 2)


def test_multiclass_specificity_counts_every_other_class_as_negative():
    cm = np.array([[5, 1, 0], [2, 6, 2], [0, 0, 4]])
    assert metrics.specificity(cm, positive=1) == pytest.approx(9 / 10)
    assert metrics.sensitivity(cm, positive=1) == pytest.approx(0.6)


def test_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ValueError, match="balanced_accuracy"):
        metrics.score("auc", np.eye(2))


class AlwaysNormal(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([[1.0, 0.0]]).expand(len(x), 2)


def test_always_normal_looks_accurate_but_catches_nothing():
    task = dataclasses.replace(ll.load("shuttle"), metric="balanced_accuracy", positive="anomaly")
    scores = task_scores(AlwaysNormal(), task)
    assert scores["accuracy"] == pytest.approx(0.928, abs=0.002)  # the share of normal rows
    assert scores["balanced_accuracy"] == pytest.approx(0.5)
    assert scores["sensitivity"] == 0 and scores["specificity"] == 1
    report = ll.measure.measure({"always normal": AlwaysNormal()}, task, batch_sizes=(1,), repeats=5)
    assert report.value("always normal", "sensitivity") == 0


def test_a_label_or_prediction_outside_the_classes_is_named():
    with pytest.raises(ValueError, match=r"label 17 is outside the 3 classes \(0 \.\. 2\)"):
        metrics.confusion([0, 1, 17], [0, 1, 2], 3)
    with pytest.raises(ValueError, match=r"prediction -1 is outside the 3 classes"):
        metrics.confusion([0, 1, 2], [0, -1, 2], 3)


def test_evaluating_on_no_data_says_so():
    from torch.utils.data import DataLoader, TensorDataset

    empty = DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="nothing to evaluate on: the data loader yielded no samples"):
        ll.train.evaluate(nn.Linear(2, 2), empty)

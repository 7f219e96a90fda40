"""Scores beyond accuracy: balanced accuracy, macro F1, sensitivity and specificity from a confusion matrix.

Accuracy misleads when classes are unbalanced: on a set with 7 % anomalies, always answering "normal"
scores 93 %. Every function takes integer labels and predictions and returns a number in 0..1.
"""

from __future__ import annotations

import numpy as np
import torch


def confusion(y_true, y_pred, classes: int) -> np.ndarray:
    """Return the [classes, classes] count matrix: row = true class, column = predicted class."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    for what, values in (("label", t), ("prediction", p)):
        outside = values[(values < 0) | (values >= classes)]
        if outside.size:
            raise ValueError(
                f"{what} {int(outside[0])} is outside the {classes} classes (0 .. {classes - 1}): the task's labels "
                "and the model's outputs must agree on the number of classes"
            )
    return np.bincount(t * classes + p, minlength=classes * classes).reshape(classes, classes)


def _recalls(cm: np.ndarray) -> np.ndarray:
    """Return each class's recall (correct / true count); a class with no samples is left out (NaN)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def accuracy(cm: np.ndarray) -> float:
    """Return the share of correct predictions."""
    return float(np.trace(cm) / cm.sum())


def balanced_accuracy(cm: np.ndarray) -> float:
    """Return the mean of per-class recalls (the chance level is 1 / classes whatever the class balance)."""
    return float(np.nanmean(_recalls(cm)))


def macro_f1(cm: np.ndarray) -> float:
    """Return the mean over classes of F1 = 2 precision recall / (precision + recall)."""
    tp = np.diag(cm).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * tp / (cm.sum(axis=0) + cm.sum(axis=1))
    return float(np.nanmean(f1))


def sensitivity(cm: np.ndarray, positive: int) -> float:
    """Return the share of true ``positive`` cases caught (recall, true-positive rate)."""
    return float(cm[positive, positive] / cm[positive].sum())


def specificity(cm: np.ndarray, positive: int) -> float:
    """Return the share of true non-``positive`` cases left alone (true-negative rate)."""
    negatives = np.delete(np.delete(cm, positive, axis=0), positive, axis=1)
    return float(negatives.sum() / np.delete(cm, positive, axis=0).sum())


SCORES = {"accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "macro_f1": macro_f1}


def score(name: str, cm: np.ndarray) -> float:
    """Return the metric called ``name`` (one of ``SCORES``) of a confusion matrix."""
    if name not in SCORES:
        raise ValueError(f"unknown metric {name!r}; use one of {', '.join(SCORES)}")
    return SCORES[name](cm)


def binary(cm: np.ndarray, positive: int) -> dict[str, float]:
    """Return sensitivity, specificity, precision and F1 treating class ``positive`` as the condition."""
    sens, spec = sensitivity(cm, positive), specificity(cm, positive)
    flagged = cm[:, positive].sum()
    precision = float(cm[positive, positive] / flagged) if flagged else float("nan")
    f1 = 2 * precision * sens / (precision + sens) if precision + sens > 0 else 0.0
    return {"sensitivity": sens, "specificity": spec, "precision": precision, "f1": f1}


def predictions(model: torch.nn.Module, loader) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels, predicted classes) of ``model`` over a DataLoader, in eval mode."""
    from lightlab.data.tasks import check_inputs

    was_training = model.training
    model.eval()
    ys, ps = [], []
    with torch.inference_mode():
        for x, y in loader:
            ps.append(model(check_inputs(x)).argmax(dim=1))
            ys.append(y)
    model.train(was_training)
    if not ys:  # torch.cat of nothing, then a division by zero, once said nothing useful
        raise ValueError("there is nothing to evaluate on: the data loader yielded no samples; give it some data")
    return torch.cat(ys).numpy(), torch.cat(ps).numpy()

"""Checkers for notebook 03 (knowledge distillation)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import prediction
from lightlab.measurement.report import Report

# Two images, three classes: small enough to follow by hand, different enough to tell the usual mistakes apart.
_STUDENT = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 0.3]])
_TEACHER = torch.tensor([[3.0, 1.0, -2.0], [-1.0, 2.5, 0.5]])
_LABELS = torch.tensor([0, 2])
_T, _ALPHA = 2.0, 0.7


def _kl(p_log: torch.Tensor, q_log: torch.Tensor) -> float:
    """Return KL(p || q) averaged over the rows, from log-probabilities."""
    return float((p_log.exp() * (p_log - q_log)).sum(dim=1).mean())


def kd_loss(fn: Callable[..., torch.Tensor]) -> str:
    """Check ``fn(student_logits, teacher_logits, labels, temperature, alpha)`` returns Hinton et al.'s KD loss."""
    s_log = F.log_softmax(_STUDENT / _T, dim=1)
    t_log = F.log_softmax(_TEACHER / _T, dim=1)
    ce = float(F.cross_entropy(_STUDENT, _LABELS))
    kl = _kl(t_log, s_log)
    expected = _ALPHA * _T**2 * kl + (1 - _ALPHA) * ce
    what = f"kd_loss(student, teacher, labels, temperature={_T}, alpha={_ALPHA})"
    got = fn(_STUDENT.clone(), _TEACHER.clone(), _LABELS.clone(), _T, _ALPHA)
    if got is None:
        _fail(what, got, round(expected, 4), "your function must `return` the loss")
    got = float(got)
    if abs(got - expected) < 1e-4:
        return "correct: kd_loss works"
    mistakes = {
        _ALPHA * kl + (1 - _ALPHA) * ce: "you forgot the T^2 factor on the soft term: softening by T shrinks its "
        "gradients by 1/T^2, so multiply the KL term by temperature**2",
        _ALPHA * _T**2 * _kl(s_log, t_log)
        + (1 - _ALPHA)
        * ce: "the KL direction is swapped: use KL(teacher || student) = sum p_teacher * (log p_teacher - "
        "log p_student); with F.kl_div the first argument is the STUDENT's log-probabilities",
        (1 - _ALPHA) * _T**2 * kl + _ALPHA * ce: "alpha weighs the soft (teacher) term and 1 - alpha the labels; "
        "you swapped them",
        _ALPHA * _T**2 * _kl(F.log_softmax(_TEACHER, 1), F.log_softmax(_STUDENT, 1))
        + (1 - _ALPHA)
        * ce: "divide BOTH logits by the temperature before the softmax (student_logits / T, teacher_logits / T)",
        _ALPHA * _T**2 * kl
        + (1 - _ALPHA)
        * float(
            F.cross_entropy(_STUDENT / _T, _LABELS)
        ): "the hard (label) term uses the plain student logits, not the softened ones",
        _ALPHA * _T**2 * kl * len(_LABELS)
        + (1 - _ALPHA) * ce: "average the KL over the images (F.kl_div(..., reduction='batchmean')), do not sum it",
        _ALPHA * _T**2 * kl / _STUDENT.shape[1]
        + (1 - _ALPHA)
        * ce: "reduction='mean' divides by images x classes; use reduction='batchmean' (divides by images only)",
    }
    for value, hint in mistakes.items():
        if abs(got - value) < 1e-4:
            _fail(what, round(got, 4), round(expected, 4), hint)
    _fail(
        what,
        round(got, 4),
        round(expected, 4),
        "loss = alpha * T**2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * cross_entropy("
        "student, labels); F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t / T, 1), reduction='batchmean', "
        "log_target=True) gives the KL",
    )


def kd_gain_prediction(guess: float | None, report: Report, setting: str = "10% labels") -> str:
    """Compare the learner's predicted KD gain (points) with the one ``compare_kd`` measured, and say why."""
    gain = report.value("student, KD", f"KD gain, {setting}")
    low, high = report.interval("student, KD", f"KD gain, {setting}") or (gain, gain)
    why = (
        f"Over the seeds the gain's 95 % interval is {low:+.1f} .. {high:+.1f} points. With few labels the soft "
        "targets on every image carry what the missing labels would have: the teacher labels the rest of the set, "
        "and its probabilities say which digits look alike. With all labels there is little left to add."
    )
    return prediction(guess, gain, f"the KD gain with {setting}", "points", why)

"""Knowledge distillation (Hinton et al. 2015): a small student learns from a large teacher's soft targets.

``kd_loss`` is the loss, ``distill(student, DistillConfig(...), task=task, teacher=teacher)`` trains a new student
with it, ``baseline`` trains the same student without a teacher, and ``compare_kd`` measures both over several
seeds, with all labels and with few labels, so a learner sees where KD pays off and where it does not.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import TensorDataset

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement import stats
from lightlab.measurement.measure import count_params, environment
from lightlab.measurement.report import Report
from lightlab.techniques import train

# CrossEntropyLoss's default ignore_index: an image with this label only counts in the KD term.
UNLABELLED = -100


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, temperature: float, alpha: float
) -> torch.Tensor:
    """Return alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, labels), averaged per image.

    Labels equal to ``UNLABELLED`` (-100) are left out of the cross-entropy: unlabelled images still teach
    through the teacher's soft targets.
    """
    _check_temperature_alpha(temperature, alpha)
    t = temperature
    # KL(teacher || student) = sum p_t (log p_t - log p_s); "batchmean" divides by the number of images.
    soft = F.kl_div(
        F.log_softmax(student_logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    labelled = labels != UNLABELLED
    # A batch without any label has no hard term (cross_entropy would average over nothing and give NaN).
    hard = F.cross_entropy(student_logits[labelled], labels[labelled]) if labelled.any() else soft * 0
    # T^2 keeps the soft term's gradients the same size whatever the temperature (Hinton et al., section 2).
    return alpha * t * t * soft + (1 - alpha) * hard


def soft_targets(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return softmax(logits / T): the teacher's class probabilities, softened by the temperature."""
    _check_temperature_alpha(temperature, 0.0)
    return F.softmax(logits / temperature, dim=-1)


def _check_temperature_alpha(temperature: float, alpha: float) -> None:
    if not 0 < temperature < math.inf:
        raise ValueError(
            f"temperature must be a finite number > 0, got {temperature}; T=1 is the plain softmax, "
            f"T=2..10 softens the teacher's targets (an infinite T makes them all equal and the loss NaN)"
        )
    if not 0 <= alpha <= 1:
        raise ValueError(
            f"alpha must be in [0, 1], got {alpha}; it weighs the soft (teacher) term against the "
            f"hard (label) term: 0 = labels only, 1 = teacher only"
        )


@dataclass(frozen=True)
class DistillConfig:
    """How to distil: temperature T, weight alpha of the soft term, training budget, share of labelled images."""

    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int | None = None  # None: 60 (quick mode: 20)
    lr: float = 1e-2
    patience: int = 15  # epochs without a better validation score before training stops
    label_fraction: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_temperature_alpha(self.temperature, self.alpha)
        if not 0 < self.label_fraction <= 1:
            raise ValueError(
                f"label_fraction must be in (0, 1], got {self.label_fraction}; "
                f"0.1 keeps the labels of 10 % of the train images"
            )
        if self.epochs is not None and not (type(self.epochs) is int and self.epochs >= 1):
            raise ValueError(f"epochs must be None (60, quick mode 20) or a whole number >= 1, got {self.epochs!r}")
        if not (type(self.patience) is int and self.patience >= 1):
            raise ValueError(f"patience must be a whole number of epochs >= 1, got {self.patience!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0 (the learning rate), got {self.lr!r}")

    @property
    def n_epochs(self) -> int:
        """Return the number of epochs to train (the quick-mode default when ``epochs`` is None)."""
        return config.epochs(self.epochs, 60, 20)


def labelled_indices(labels: torch.Tensor, fraction: float, seed: int = 0) -> np.ndarray:
    """Return the sorted indices of a stratified, seeded ``fraction`` of ``labels`` (at least one per class)."""
    if fraction >= 1:
        return np.arange(len(labels))
    classes = len(labels.unique())
    keep, _ = train_test_split(
        np.arange(len(labels)),
        train_size=max(fraction, classes / len(labels)),
        stratify=labels.numpy(),
        random_state=seed,
    )
    return np.sort(keep)


def label_subset(task: Task, fraction: float, seed: int = 0) -> Task:
    """Return ``task`` whose train split keeps only a stratified ``fraction`` of its images (the labelled ones).

    Validation stays whole: both KD and the baseline pick their best epoch on the same labelled images.
    """
    x, y = task.splits["train"].tensors
    keep = labelled_indices(y, fraction, seed)
    return dataclasses.replace(task, splits={**task.splits, "train": TensorDataset(x[keep], y[keep])})


@torch.inference_mode()
def eval_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return ``model``'s logits on ``x`` in eval mode (dropout off), leaving the model's mode as it was."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(chunk) for chunk in x.split(256)])
    finally:
        model.train(was_training)


def kd_task(teacher: nn.Module, cfg: DistillConfig | None = None, *, task: Task) -> tuple[Task, Callable]:
    """Return (task whose train targets carry the teacher's logits, the matching KD loss) for ``train.fit_``.

    The teacher is frozen (eval mode), so its logits are computed once and carried beside the labels; labels are
    kept only on the labelled share (``cfg.label_fraction``).
    """
    cfg = cfg or DistillConfig()
    x, y = task.splits["train"].tensors
    teacher_logits = eval_logits(teacher, x)
    labels = torch.full_like(y, UNLABELLED)
    keep = labelled_indices(y, cfg.label_fraction, cfg.seed)
    labels[keep] = y[keep]
    # fit_() hands loss_fn (logits, target): pack [label, teacher logits] as the target of each input.
    packed = torch.cat([labels.float().unsqueeze(1), teacher_logits], dim=1)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, target[:, 1:], target[:, 0].long(), cfg.temperature, cfg.alpha)

    return dataclasses.replace(task, splits={**task.splits, "train": TensorDataset(x, packed)}), loss_fn


def _fit(student: nn.Module, task: Task, cfg: DistillConfig, loss_fn: Callable | None = None) -> nn.Module:
    """Return a trained copy of ``student`` (``train.fit_`` with ``cfg``'s budget and early stopping)."""
    student = copy.deepcopy(student)
    train.fit_(
        student,
        task,
        epochs=cfg.n_epochs,
        lr=cfg.lr,
        patience=cfg.patience,
        seed=cfg.seed,
        progress=False,
        loss_fn=loss_fn,
    )
    return student


def distill(student: nn.Module, cfg: DistillConfig | None = None, *, task: Task, teacher: nn.Module) -> nn.Module:
    """Return a new student trained on every train input with ``kd_loss`` (labels only on the labelled share).

    Training is ``ll.train.fit_`` with the KD loss and its early stopping on the validation split; ``student`` is
    left as it was.
    """
    cfg = cfg or DistillConfig()
    kd, loss_fn = kd_task(teacher, cfg, task=task)
    return _fit(student, kd, cfg, loss_fn)


def baseline(student: nn.Module, cfg: DistillConfig | None = None, *, task: Task) -> nn.Module:
    """Return a new student trained on the labelled images only, without a teacher, for as many steps as KD."""
    cfg = cfg or DistillConfig()
    labelled = label_subset(task, cfg.label_fraction, cfg.seed)
    # Fewer images make shorter epochs: repeat them so that an epoch has as many batches as KD's.
    x, y = labelled.splits["train"].tensors
    repeats = math.ceil(len(task.splits["train"]) / len(y))
    labelled = dataclasses.replace(
        labelled,
        splits={**labelled.splits, "train": TensorDataset(x.repeat(repeats, *[1] * (x.dim() - 1)), y.repeat(repeats))},
    )
    return _fit(student, labelled, cfg)


def setting(label_fraction: float) -> str:
    """Return the name of a label setting as used in ``compare_kd``'s metrics: 'all labels' or '10% labels'."""
    return "all labels" if label_fraction >= 1 else f"{100 * label_fraction:g}% labels"


def _add_seeds(
    report: Report, model: str, metric: str, values: list[float], unit: str, method: str, seeds: Sequence[int]
) -> None:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    interval = stats.seed_interval(values) if len(values) > 1 else None
    report.add(
        model,
        metric,
        statistics.mean(values),
        unit,
        f"{method}; mean over seeds {list(seeds)}, spread = standard deviation, 95 % Student-t interval over seeds",
        spread=spread,
        note="per seed: " + ", ".join(f"{v:.2f}" for v in values),
        interval=None if interval is None else (interval.low, interval.high),
    )


def compare_kd(
    student_builder: Callable[[int], nn.Module],
    cfg: DistillConfig | None = None,
    *,
    task: Task,
    teacher: nn.Module,
    seeds: Sequence[int] = (0, 1, 2),
    label_fraction: float = 0.1,
) -> Report:
    """Return a Report of test accuracy with and without KD, with all labels and with ``label_fraction`` of them.

    ``student_builder(seed)`` returns a fresh student. Each seed changes the student's initialisation, the
    shuffling and which images are labelled; rows give the mean over seeds with the standard deviation as spread.
    Metrics: ``accuracy, <setting>`` for models 'teacher', 'student, no KD', 'student, KD', and ``KD gain,
    <setting>`` (KD minus no KD, paired by seed) where <setting> is ``setting(fraction)``.
    """
    cfg = cfg or DistillConfig()
    report = Report(environment=environment())
    teacher_accuracy = 100 * train.evaluate(teacher, task)
    report.add("teacher", "params", count_params(teacher), "count", "sum of parameter elements")
    report.add("student", "params", count_params(student_builder(seeds[0])), "count", "sum of parameter elements")
    for fraction in (1.0, label_fraction):
        name = setting(fraction)
        n_labels = len(labelled_indices(task.splits["train"].tensors[1], fraction))
        test = f"test split of {task.name!r}, {n_labels} of {len(task.splits['train'])} train images labelled"
        report.add("teacher", f"accuracy, {name}", teacher_accuracy, "%", f"{test}; the teacher as given")
        runs = {"student, no KD": [], "student, KD": []}
        for seed in seeds:
            run = dataclasses.replace(cfg, label_fraction=fraction, seed=seed)
            student = distill(student_builder(seed), run, task=task, teacher=teacher)
            runs["student, KD"].append(100 * train.evaluate(student, task))
            runs["student, no KD"].append(100 * train.evaluate(baseline(student_builder(seed), run, task=task), task))
        kd = f"T={cfg.temperature:g}, alpha={cfg.alpha:g}, soft targets on all train images"
        _add_seeds(
            report,
            "student, no KD",
            f"accuracy, {name}",
            runs["student, no KD"],
            "%",
            f"{test}; trained on the labelled images only",
            seeds,
        )
        _add_seeds(report, "student, KD", f"accuracy, {name}", runs["student, KD"], "%", f"{test}; {kd}", seeds)
        gains = [a - b for a, b in zip(runs["student, KD"], runs["student, no KD"], strict=True)]
        _add_seeds(report, "student, KD", f"KD gain, {name}", gains, "points", "KD minus no KD, same seed", seeds)
    return report

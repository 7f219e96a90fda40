"""Knowledge distillation (Hinton et al. 2015): a small student learns from a large teacher's soft targets.

``kd_loss`` is the loss, ``distill(teacher, student, task, DistillConfig(...))`` trains a new student with it,
``baseline`` trains the same student without a teacher, and ``compare`` measures both over several seeds, with
all labels and with few labels, so a learner sees where KD pays off and where it does not.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import nn
from torch.utils.data import TensorDataset

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.face.widgets import Explorer
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
    if not temperature > 0:
        raise ValueError(
            f"temperature must be > 0, got {temperature}; T=1 is the plain softmax, "
            f"T=2..10 softens the teacher's targets"
        )
    if not 0 <= alpha <= 1:
        raise ValueError(
            f"alpha must be in [0, 1], got {alpha}; it weighs the soft (teacher) term against the "
            f"hard (label) term: 0 = labels only, 1 = teacher only"
        )


@dataclass
class DistillConfig:
    """How to distil: temperature T, weight alpha of the soft term, training budget, share of labelled images."""

    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int | None = None  # None: 60 (quick mode: 20)
    lr: float = 1e-2
    patience: int = 15
    label_fraction: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_temperature_alpha(self.temperature, self.alpha)
        if not 0 < self.label_fraction <= 1:
            raise ValueError(
                f"label_fraction must be in (0, 1], got {self.label_fraction}; "
                f"0.1 keeps the labels of 10 % of the train images"
            )
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")

    @property
    def n_epochs(self) -> int:
        """Return the number of epochs to train (the quick-mode default when ``epochs`` is None)."""
        return self.epochs if self.epochs is not None else int(config.pick(60, 20))


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
def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return ``model``'s logits on ``x`` in eval mode (dropout off), leaving the model's mode as it was."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(chunk) for chunk in x.split(256)])
    finally:
        model.train(was_training)


def kd_task(teacher: nn.Module, task: Task, config: DistillConfig) -> tuple[Task, Callable]:
    """Return (task whose train targets carry the teacher's logits, the matching KD loss) for ``train.fit``.

    The teacher is frozen (eval mode), so its logits are computed once and carried beside the labels; labels are
    kept only on the labelled share (``config.label_fraction``).
    """
    x, y = task.splits["train"].tensors
    teacher_logits = _logits(teacher, x)
    labels = torch.full_like(y, UNLABELLED)
    keep = labelled_indices(y, config.label_fraction, config.seed)
    labels[keep] = y[keep]
    # fit() hands loss_fn (logits, target): pack [label, teacher logits] as the target of each input.
    packed = torch.cat([labels.float().unsqueeze(1), teacher_logits], dim=1)

    def loss_fn(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return kd_loss(logits, target[:, 1:], target[:, 0].long(), config.temperature, config.alpha)

    return dataclasses.replace(task, splits={**task.splits, "train": TensorDataset(x, packed)}), loss_fn


def distill(teacher: nn.Module, student: nn.Module, task: Task, config: DistillConfig | None = None) -> nn.Module:
    """Return a new student trained on every train input with ``kd_loss`` (labels only on the labelled share).

    Training is ``ll.train.fit`` with the KD loss and its early stopping on the validation split.
    """
    config = config or DistillConfig()
    kd, loss_fn = kd_task(teacher, task, config)
    student = copy.deepcopy(student)
    train.fit(
        student,
        kd,
        epochs=config.n_epochs,
        lr=config.lr,
        patience=config.patience,
        seed=config.seed,
        progress=False,
        loss_fn=loss_fn,
    )
    return student


def baseline(student: nn.Module, task: Task, config: DistillConfig | None = None) -> nn.Module:
    """Return a new student trained on the labelled images only, without a teacher, for as many steps as KD."""
    config = config or DistillConfig()
    labelled = label_subset(task, config.label_fraction, config.seed)
    # Fewer images make shorter epochs: repeat them so that an epoch has as many batches as KD's.
    x, y = labelled.splits["train"].tensors
    repeats = math.ceil(len(task.splits["train"]) / len(y))
    labelled = dataclasses.replace(
        labelled,
        splits={**labelled.splits, "train": TensorDataset(x.repeat(repeats, *[1] * (x.dim() - 1)), y.repeat(repeats))},
    )
    student = copy.deepcopy(student)
    train.fit(
        student,
        labelled,
        epochs=config.n_epochs,
        lr=config.lr,
        patience=config.patience,
        seed=config.seed,
        progress=False,
    )
    return student


def setting(label_fraction: float) -> str:
    """Return the name of a label setting as used in ``compare``'s metrics: 'all labels' or '10% labels'."""
    return "all labels" if label_fraction >= 1 else f"{100 * label_fraction:g}% labels"


def _add_seeds(
    report: Report, model: str, metric: str, values: list[float], unit: str, method: str, seeds: Sequence[int]
) -> None:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    report.add(
        model,
        metric,
        statistics.mean(values),
        unit,
        f"{method}; mean over seeds {list(seeds)}, spread = standard deviation",
        spread=spread,
        note="per seed: " + ", ".join(f"{v:.2f}" for v in values),
    )


def compare(
    teacher: nn.Module,
    student_builder: Callable[[int], nn.Module],
    task: Task,
    seeds: Sequence[int] = (0, 1, 2),
    label_fraction: float = 0.1,
    config: DistillConfig | None = None,
) -> Report:
    """Return a Report of test accuracy with and without KD, with all labels and with ``label_fraction`` of them.

    ``student_builder(seed)`` returns a fresh student. Each seed changes the student's initialisation, the
    shuffling and which images are labelled; rows give the mean over seeds with the standard deviation as spread.
    Metrics: ``accuracy, <setting>`` for models 'teacher', 'student, no KD', 'student, KD', and ``KD gain,
    <setting>`` (KD minus no KD, paired by seed) where <setting> is ``setting(fraction)``.
    """
    from lightlab.measurement.measure import count_params, environment

    config = config or DistillConfig()
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
            cfg = dataclasses.replace(config, label_fraction=fraction, seed=seed)
            runs["student, KD"].append(100 * train.evaluate(distill(teacher, student_builder(seed), task, cfg), task))
            runs["student, no KD"].append(100 * train.evaluate(baseline(student_builder(seed), task, cfg), task))
        kd = f"T={config.temperature:g}, alpha={config.alpha:g}, soft targets on all train images"
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


def plot_soft_targets(teacher: nn.Module, x: torch.Tensor, temperatures: Sequence[float] = (1, 2, 4, 8)) -> go.Figure:
    """Return grouped bars of the teacher's class probabilities for one image ``x`` at each temperature."""
    logits = _logits(teacher, x[:1])[0]
    fig = go.Figure()
    for t in temperatures:
        fig.add_bar(x=[str(c) for c in range(len(logits))], y=soft_targets(logits, t).tolist(), name=f"T = {t:g}")
    fig.update_layout(
        barmode="group",
        xaxis_title="class",
        yaxis_title="teacher probability",
        height=340,
        title="Soft targets: a higher temperature reveals which wrong classes the teacher finds close",
    )
    return fig


class DistillExplorer(Explorer):
    """Distil live: temperature, alpha and the share of labelled images rerun ``distill`` against ``baseline``."""

    def __init__(
        self,
        teacher: nn.Module,
        student_builder: Callable[[int], nn.Module],
        task: Task,
        base: DistillConfig | None = None,
    ):
        import ipywidgets as w

        self.teacher, self.student_builder, self.task = teacher, student_builder, task
        self.base = base or DistillConfig(label_fraction=0.1)
        self.temperature = w.FloatSlider(
            value=self.base.temperature, min=1.0, max=20.0, step=1.0, description="temperature T"
        )
        self.alpha = w.FloatSlider(value=self.base.alpha, min=0.0, max=1.0, step=0.1, description="alpha")
        fractions = sorted({0.05, 0.1, 0.25, 0.5, 1.0, self.base.label_fraction})
        self.label_fraction = w.SelectionSlider(
            options=fractions, value=self.base.label_fraction, description="labelled"
        )
        self.summary = w.Label()
        self.output = w.Output()
        self.result: Report | None = None
        self._baselines: dict[float, float] = {}
        for control in (self.temperature, self.alpha, self.label_fraction):
            control.observe(lambda _change: self.run(), names="value")
        self.widget = w.VBox([w.HBox([self.temperature, self.alpha]), self.label_fraction, self.summary, self.output])

    def run(self) -> Report:
        """Distil one student (seed 0) with the current settings, compare it with the baseline, return the Report."""

        from lightlab.face import plots

        cfg = dataclasses.replace(
            self.base,
            temperature=self.temperature.value,
            alpha=self.alpha.value,
            label_fraction=self.label_fraction.value,
            seed=0,
        )
        fraction = cfg.label_fraction
        if fraction not in self._baselines:  # the baseline does not depend on T or alpha: train it once
            self._baselines[fraction] = 100 * train.evaluate(
                baseline(self.student_builder(0), self.task, cfg), self.task
            )
        kd = 100 * train.evaluate(distill(self.teacher, self.student_builder(0), self.task, cfg), self.task)
        test = f"test split, {setting(fraction)}, seed 0"
        report = Report()
        report.add("teacher", "accuracy", 100 * train.evaluate(self.teacher, self.task), "%", "test split")
        report.add("student, no KD", "accuracy", self._baselines[fraction], "%", f"{test}, labelled images only")
        report.add("student, KD", "accuracy", kd, "%", f"{test}, T={cfg.temperature:g}, alpha={cfg.alpha:g}")
        self.result = report
        self.summary.value = (
            f"{setting(fraction)}, T={cfg.temperature:g}, alpha={cfg.alpha:g}: KD {kd:.1f} % vs "
            f"no KD {self._baselines[fraction]:.1f} % ({kd - self._baselines[fraction]:+.1f} "
            f"points; one seed: compare() gives the spread)"
        )
        self.redraw(
            plots.report_bars(report, ["accuracy"], log=False),
            plot_soft_targets(self.teacher, self.task.example(1), sorted({1.0, cfg.temperature})),
        )
        return report

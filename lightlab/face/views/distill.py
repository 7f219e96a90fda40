"""Pictures and knobs for distillation: the teacher's soft targets and the distillation explorer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import ipywidgets as w
import plotly.graph_objects as go
import torch
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer, slider
from lightlab.measurement.report import Report
from lightlab.techniques import train
from lightlab.techniques.distill import DistillConfig, baseline, distill, eval_logits, setting, soft_targets


def plot_soft_targets(teacher: nn.Module, x: torch.Tensor, temperatures: Sequence[float] = (1, 2, 4, 8)) -> go.Figure:
    """Return grouped bars of the teacher's class probabilities for one image ``x`` at each temperature."""
    logits = eval_logits(teacher, x[:1])[0]
    fig = go.Figure()
    for t in temperatures:
        fig.add_bar(x=[str(c) for c in range(len(logits))], y=soft_targets(logits, t).tolist(), name=f"T = {t:g}")
    title = "Soft targets: a higher temperature reveals which wrong classes the teacher finds close"
    fig.update_layout(barmode="group", height=340, title=title)
    return fig.update_xaxes(title="class").update_yaxes(title="teacher probability")


class DistillExplorer(Explorer):
    """Distil live: temperature, alpha and the share of labelled images rerun ``distill`` against ``baseline``."""

    def __init__(
        self,
        teacher: nn.Module,
        student_builder: Callable[[int], nn.Module],
        task: Task,
        base: DistillConfig | None = None,
    ):
        self.teacher, self.student_builder, self.task = teacher, student_builder, task
        self.base = base or DistillConfig(label_fraction=0.1)
        # Labels in full ("temperature T" would be cut to "temperat..." at the default width), sliders wide
        # enough that each fine step is a few pixels, and no run until a slider is released.
        wide = {
            "style": FULL_LABEL,
            "layout": w.Layout(width="420px"),
            "continuous_update": False,
        }
        self.temperature = slider(w.FloatSlider, "temperature T", self.base.temperature, 1.0, 20.0, 0.5)
        self.alpha = slider(w.FloatSlider, "alpha", self.base.alpha, 0.0, 1.0, 0.05)
        fractions = sorted({0.05, 0.1, 0.25, 0.5, 1.0, self.base.label_fraction})
        self.label_fraction = w.SelectionSlider(
            options=fractions, value=self.base.label_fraction, description="labelled share", **wide
        )
        self.result: Report | None = None
        self._baselines: dict[float, float] = {}
        self.layout((self.temperature, self.alpha), self.label_fraction)

    def run(self) -> Report:
        """Distil one student (seed 0) with the current settings, compare it with the baseline, return the Report."""
        cfg = dataclasses.replace(
            self.base,
            temperature=self.temperature.value,
            alpha=self.alpha.value,
            label_fraction=self.label_fraction.value,
            seed=0,
        )
        fraction = cfg.label_fraction
        if fraction not in self._baselines:  # the baseline does not depend on T or alpha: train it once
            student = baseline(self.student_builder(0), cfg, task=self.task)
            self._baselines[fraction] = 100 * train.evaluate(student, self.task)
        student = distill(self.student_builder(0), cfg, task=self.task, teacher=self.teacher)
        kd = 100 * train.evaluate(student, self.task)
        test = f"test split, {setting(fraction)}, seed 0"
        report = Report()
        report.add("teacher", "accuracy", 100 * train.evaluate(self.teacher, self.task), "%", "test split")
        report.add("student, no KD", "accuracy", self._baselines[fraction], "%", f"{test}, labelled images only")
        report.add("student, KD", "accuracy", kd, "%", f"{test}, T={cfg.temperature:g}, alpha={cfg.alpha:g}")
        self.result = report
        self.summary.value = (
            f"{setting(fraction)}, T={cfg.temperature:g}, alpha={cfg.alpha:g}: KD {kd:.1f} % vs "
            f"no KD {self._baselines[fraction]:.1f} % ({kd - self._baselines[fraction]:+.1f} "
            f"points; one seed: compare_kd() gives the spread)"
        )
        self.redraw(
            plots.report_bars(report, ["accuracy"], log=False),
            plot_soft_targets(self.teacher, self.task.example(1), sorted({1.0, cfg.temperature})),
        )
        return report

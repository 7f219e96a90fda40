"""Solutions to the exercises of notebook 12 (portable healthcare; tested in tests/test_solutions_12.py)."""

import numpy as np
import torch

import lightlab as ll


def screening(cm: np.ndarray) -> tuple[float, float]:
    """Exercise 1: (sensitivity, specificity) of 'any arrhythmia' (classes 1, 2) against 'normal' (class 0)."""
    cm = np.asarray(cm)
    # An AF window predicted as PVC still raises an alarm: every column but "normal" counts as caught.
    return float(cm[1:, 1:].sum() / cm[1:].sum()), float(cm[0, 0] / cm[0].sum())


def battery_days(joules_per_window: float, capacity_mah: float, volts: float, windows_per_day: float) -> float:
    """Exercise 2: days a full cell lasts: (mAh x 3.6 C/mAh x V) joules / joules used per day."""
    return capacity_mah * 3.6 * volts / (joules_per_window * windows_per_day)


def screening_threshold(model: torch.nn.Module, task: ll.Task, sensitivity: float = 0.95) -> float:
    """Exercise 3: the highest alarm threshold whose VALIDATION sensitivity is still >= ``sensitivity``."""
    curve = ll.screening.roc(*ll.screening.arrhythmia_scores(model, task, "val"))
    return float(curve["threshold"][curve["sensitivity"] >= sensitivity].max())


def exercise_3(task: ll.Task, model: torch.nn.Module) -> dict[str, float]:
    """Exercise 3: the test operating point at the chosen threshold, and the argmax decision's false alarms."""
    threshold = screening_threshold(model, task)
    point = ll.screening.operating_point(*ll.screening.arrhythmia_scores(model, task, "test"), threshold)
    argmax = ll.screening.screening_report({"m": model}, task)
    return {"threshold": threshold, **point,
            "false_alarms_per_day": (1 - point["specificity"]) * ll.screening.WINDOWS_PER_DAY,
            "argmax_false_alarms_per_day": argmax.value("m", "false_alarms_per_day")}


def smaller_student(seed: int = 0) -> torch.nn.Module:
    """Exercise 4: conv 8-12-16 (kernel 7, pool 4), 2,495 parameters (less than half of ecg-small's 5,571).

    Conv 4-8-16 (1,563 parameters) keeps only ~93 % of the large model's balanced accuracy in quick mode.
    """
    return ll.screening.small_cnn((8, 12, 16), kernel=7, pool=4, seed=seed)


def exercise_4(task: ll.Task, teacher: torch.nn.Module) -> ll.Report:
    """Exercise 4: distil the smaller student from the large model; measure both (and the student in int8)."""
    student = ll.distill.distill(smaller_student(), ll.distill.DistillConfig(lr=3e-3, epochs=40), task=task,
                                 teacher=teacher)
    int8 = ll.quantize.quantize(student, ll.quantize.QuantConfig(backend="onnxruntime", calibration=task))
    return ll.measure.measure({"large": teacher, "student": student, "student int8": int8}, task,
                              batch_sizes=(1,))

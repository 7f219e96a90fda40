"""Solutions to the exercises of notebook 11 (kept apart from the notebook; tested in tests/test_solutions_11.py)."""

import math

import torch

import lightlab as ll
from lightlab.applications import driving

GAP_M = 0.35  # protective field (0.55 m from the centre) minus the robot's radius (0.2 m)


def stopping_distance(speed: float, latency_s: float, decel: float) -> float:
    """Exercise 1: metres driven blind while the answer comes (reaction) + metres needed to brake."""
    return speed * latency_s + speed**2 / (2 * decel)


def stopping_speed(latency_s: float, gap_m: float = GAP_M, decel: float = 2.0) -> float:
    """Exercise 1, second part: the highest speed whose stopping distance fits in ``gap_m``.

    Solves speed * latency + speed^2 / (2 decel) = gap for the positive root.
    """
    return decel * (-latency_s + math.sqrt(latency_s**2 + 2 * gap_m / decel))


def dropped_share(latency_ms: float, period_ms: float) -> float:
    """Exercise 2: the model uses one scan in every ceil(latency / period) (at least one); the rest are dropped."""
    return 1 - 1 / max(1, math.ceil(latency_ms / period_ms))


def exercise_3(models: dict[str, torch.nn.Module], timings: dict[str, ll.measure.Timing],
               slowdown: float = driving.CORTEX_M4) -> ll.Report:
    """Exercise 3: both models at 1.5 m/s, 10 scans per second, on the assumed Cortex-M4-class MCU, 8 rooms x 3."""
    config = driving.DriveConfig(speed=1.5, period_ms=100, slowdown=slowdown, duration_s=20)
    return driving.compare_drives(models, timings, config, worlds=8, seeds=3)


def mlp_accuracy(task: ll.Task) -> float:
    """Exercise 4: test accuracy of a 64-32-16-4 perceptron as small as lidar-small.

    Each of its first-layer units weighs all 64 beams at once, so one dropout (an 8 m reading among 1 m ones) moves
    every unit; a convolution looks at 5 neighbouring beams and, with max-pooling, learns local patterns such as
    "one long beam between short ones" wherever they are.
    """
    model = ll.zoo.mlp(64, 4, (32, 16))
    ll.train.fit_(model, task, lr=1e-2, progress=False)
    return ll.train.evaluate(model, task)

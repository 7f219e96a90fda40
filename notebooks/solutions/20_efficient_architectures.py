"""Solutions to the exercises of notebook 20 (kept apart from the notebook; tested in tests/test_solutions_20.py)."""

import torch

import lightlab as ll


def dwsep_params(in_ch: int, out_ch: int, kernel: int) -> int:
    """Exercise 1: depthwise k*k*in_ch + its BatchNorm 2*in_ch + pointwise in_ch*out_ch + its BatchNorm 2*out_ch."""
    return kernel * kernel * in_ch + 2 * in_ch + in_ch * out_ch + 2 * out_ch


def efficient_net(task: ll.Task, seed: int = 0) -> torch.nn.Module:
    """Exercise 3: thin inverted residuals (MobileNetV2-style), about 1/5 of the standard CNN's params.

    Depthwise-separable blocks of widths (40, 80, 160) have as few parameters but lose 2-3 points in quick mode.
    """
    return ll.blocks.network(task.input_shape, task.num_classes, "inverted", (16, 32, 64), seed=seed)


def standard_net(task: ll.Task, seed: int = 0) -> torch.nn.Module:
    """The standard CNN of the notebook: the same network with standard conv blocks."""
    return ll.blocks.network(task.input_shape, task.num_classes, "conv", (32, 64, 128), seed=seed)


def exercise_3(task: ll.Task, seeds: tuple[int, ...] = (0, 1, 2)) -> ll.Report:
    """Exercise 3: train both networks with the same settings per seed; params and mean test accuracy."""
    report = ll.Report()
    for name, build in (("standard CNN", standard_net), ("efficient CNN", efficient_net)):
        accuracies = []
        for seed in seeds:
            model = build(task, seed)
            ll.train.fit_(model, task, epochs=30, lr=1e-2, patience=10, seed=seed, progress=False)
            accuracies.append(100 * ll.train.evaluate(model, task))
        report.add(name, "params", ll.measure.count_params(model), "count", "sum of parameter elements")
        report.add(name, "accuracy", sum(accuracies) / len(accuracies), "%",
                   f"test split, mean over seeds {list(seeds)}",
                   note="per seed: " + ", ".join(f"{a:.1f}" for a in accuracies))
    return report

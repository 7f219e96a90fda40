"""The notebooks' outcome targets, checked on the learner's own model: ``ll.checks.target("01.4", model)``.

Each target is measured as the notebook states it (file bytes, parameters, accuracy on the same test split) and
comes back with its statistics: the 95 % interval of the learner's accuracy, and the paired test against the model
the target is stated against. A target is met on its stated numbers; the verdict says whether 360 test images can
also *show* it. A miss raises ``CheckFailed`` with a hint that names the likely cause.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from lightlab.data.loaders import load
from lightlab.face.checks.base import CheckFailed
from lightlab.measurement import measure, metrics, stats
from lightlab.models import zoo


@dataclass(frozen=True)
class _Measured:
    """What the check measured on the learner's model and on the target's reference model."""

    accuracy: float  # points, on the task's test split
    reference_accuracy: float
    params: int
    file_bytes: int
    reference_file_bytes: int
    test: stats.Paired  # the learner's model against the reference, input by input
    interval: tuple[float, float]  # Wilson 95 % interval of the learner's accuracy


def _measure(model: nn.Module, task_name: str, reference: str, metric: str | None = None) -> _Measured:
    if not isinstance(model, nn.Module):
        raise CheckFailed(f"pass your model (a torch.nn.Module), got {type(model).__name__}")
    task, ref = load(task_name), zoo.pretrained(reference)
    y, pred = metrics.predictions(model, task.loader("test", shuffle=False))
    _, ref_pred = metrics.predictions(ref, task.loader("test", shuffle=False))
    test = stats.compare(y, pred, ref_pred, ("your model", reference), metric or task.metric)
    return _Measured(
        accuracy=test.scores[0],
        reference_accuracy=test.scores[1],
        params=measure.count_params(model),
        file_bytes=measure.serialized_size(model),
        reference_file_bytes=measure.serialized_size(ref),
        test=test,
        interval=stats.wilson(int((pred == y).sum()), len(y)),
    )


def _zero_share(model: nn.Module) -> float:
    weights = [p.detach() for name, p in model.named_parameters() if name.endswith("weight")]
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / max(total, 1)


def _accuracy_line(m: _Measured) -> str:
    low, high = m.interval
    return f"test accuracy {m.accuracy:.1f} % (95 % interval {low:.1f} .. {high:.1f}); {m.test.verdict}"


def _pruning_01_4(model: nn.Module) -> tuple[bool, str, str]:
    m = _measure(model, "digits", "digits-large")
    share = m.file_bytes / m.reference_file_bytes
    line = f"file {m.file_bytes:,} bytes = {share:.0%} of digits-large's; {_accuracy_line(m)}"
    if share > 0.25:
        zeros = _zero_share(model)
        hint = (
            f"your file is {share:.0%} of the original: {zeros:.0%} of its weights are zero, but zeros are still "
            "stored as 4-byte floats. Remove whole channels (structured pruning) or store the sparse layers in "
            "CSR with ll.sparse.to_sparse"
            if zeros > 0.3
            else f"your file is {share:.0%} of the original and few weights are zero: prune first"
        )
        return False, line, hint
    if m.accuracy < 97:
        return False, line, "the file is small enough; fine-tune after pruning (prune gradually, then train again)"
    return True, line, ""


def _per_channel_levels(model: nn.Module) -> int:
    levels = [
        int(row.unique().numel())
        for layer in model.modules()
        if isinstance(layer, nn.Linear)
        for row in layer.weight.detach()
    ]
    return max(levels, default=0)


def _quantization_02_4(model: nn.Module) -> tuple[bool, str, str]:
    m = _measure(model, "digits", "digits-small")
    levels = _per_channel_levels(model)
    line = f"at most {levels} distinct weights per output channel; {_accuracy_line(m)}"
    if levels > 15:
        hint = (
            f"a row of a Linear weight holds {levels} distinct values; a symmetric 4-bit grid has at most 15 "
            "(-7 .. 7 times the row's scale): quantize per output channel with ll.quantize.fake_quantize"
        )
        return False, line, hint
    if m.test.difference < -1:
        return False, line, "more than 1 point lost: try quantization-aware training (ll.quantize.qat) at 4 bits"
    return True, line, ""


def _start_00_6(model: nn.Module) -> tuple[bool, str, str]:
    m = _measure(model, "digits", "digits-small")
    line = f"{m.params:,} parameters; {_accuracy_line(m)}"
    if m.params > 1500:
        return False, line, f"{m.params:,} parameters is over 1,500: narrow the hidden layer (64 x h + h x 10 + ...)"
    if m.accuracy < 95:
        return False, line, "train longer or with a higher learning rate (ll.train.fit_(model, task, lr=1e-2))"
    return True, line, ""


def _industrial_13_4(model: nn.Module) -> tuple[bool, str, str]:
    m = _measure(model, "shuttle", "shuttle-large")
    kept = m.accuracy / m.reference_accuracy
    line = f"{m.params} parameters; balanced accuracy kept {kept:.3f} of shuttle-large's; {m.test.verdict}"
    if m.params > 100:
        return False, line, f"{m.params} parameters is over 100: 9 x h + h + h x 2 + 2 for one hidden layer of h"
    if kept < 0.99:
        return False, line, "train with the task's balanced metric in mind: more epochs, lr=1e-2, another seed"
    return True, line, ""


TARGETS: dict[str, tuple[str, Callable[[nn.Module], tuple[bool, str, str]]]] = {
    "00.6": ("a digits model with <= 1,500 parameters and >= 95 % test accuracy", _start_00_6),
    "01.4": ("a file <= 25 % of digits-large's with >= 97 % test accuracy", _pruning_01_4),
    "02.4": ("4-bit per-channel Linear weights within 1 point of digits-small", _quantization_02_4),
    "13.4": ("a shuttle detector with <= 100 parameters keeping >= 99 % of shuttle-large's metric", _industrial_13_4),
}


@torch.inference_mode()
def target(exercise: str, model: nn.Module) -> str:
    """Measure ``model`` against notebook exercise ``exercise``'s target ("01.4"); return "met: ..." or raise."""
    if exercise not in TARGETS:
        raise CheckFailed(f"no target {exercise!r}; the targets are: {', '.join(TARGETS)}")
    goal, check = TARGETS[exercise]
    met, line, hint = check(model)
    if not met:
        raise CheckFailed(f"target {exercise} ({goal}) not met: {line}.\nHint: {hint}")
    return f"met: target {exercise} ({goal}): {line}"

"""Pruning: remove the weights (or whole channels) that matter least, then measure what it bought.

``prune(model, PruneConfig(sparsity=0.8))`` returns a new model with the smallest weights set to zero
(unstructured, per layer or global); ``structured=True`` removes whole channels with Torch-Pruning's dependency
graph, so the layers, and whatever consumes them, really shrink. ``prune_iteratively(model,
IterativePruneConfig(final_sparsity=0.9), task=task)`` gets there in steps, fine-tuning after each. Zeros alone do
not make a dense CPU kernel faster: ``speed_comparison`` measures that, and ``to_sparse`` (``lightlab.sparse``)
stores weights in CSR where that pays.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
import torch_pruning as tp
from torch import nn
from torch.nn.utils import parametrize

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement import measure
from lightlab.measurement.report import Report
from lightlab.techniques import train
from lightlab.techniques.sparse import count_nonzero, to_sparse

SCOPES = ("layer", "global")
LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
# Layers Torch-Pruning knows how to cut along their channel dimension; any other module that owns parameters
# would have its "last non-singleton dimension" cut blindly, so structured pruning refuses it.
_TP_KNOWN = (
    nn.modules.conv._ConvNd,
    nn.Linear,
    nn.modules.batchnorm._BatchNorm,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.PReLU,
    nn.Embedding,
    nn.LSTM,
    nn.MultiheadAttention,
)


def _check_sparsity(value: float, name: str = "sparsity") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0 <= value < 1:
        raise ValueError(
            f"{name} must be in [0, 1) (the fraction of weights removed), got {value}; "
            "0.9 removes 90 % of the weights, 1 would remove them all"
        )
    return float(value)


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Return a bool mask (True = keep) that zeroes the round(sparsity * numel) smallest |weight| entries."""
    k = round(_check_sparsity(sparsity) * weight.numel())
    mask = torch.ones_like(weight, dtype=torch.bool)
    if k:  # the same rule as torch.nn.utils.prune.l1_unstructured, so both give the same mask
        smallest = torch.topk(weight.detach().abs().flatten(), k, largest=False).indices
        mask.view(-1)[smallest] = False
    return mask


@dataclass(frozen=True)
class PruneConfig:
    """What to prune: the fraction removed, per layer or across layers, single weights or whole channels."""

    sparsity: float = 0.5  # fraction of weights (unstructured) or of channels per layer (structured) removed
    scope: str = "layer"  # "layer": every layer loses `sparsity`; "global": one magnitude threshold for all
    structured: bool = False  # True: remove whole output channels/neurons, so layers physically shrink
    layer_types: tuple[type[nn.Module], ...] = LAYER_TYPES
    exclude: tuple[str, ...] = ()  # module names (as in model.named_modules()) left untouched

    def __post_init__(self) -> None:
        _check_sparsity(self.sparsity)
        if self.scope not in SCOPES:
            raise ValueError(
                f"unknown scope {self.scope!r}; use 'layer' (each layer loses `sparsity`) or "
                "'global' (one threshold across all layers, so some layers lose more)"
            )
        if not isinstance(self.structured, bool):
            raise TypeError(f"structured must be True or False, got {self.structured!r}")
        if not self.layer_types or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in self.layer_types):
            raise TypeError(
                f"layer_types must be a tuple of nn.Module classes such as (nn.Linear, nn.Conv2d), "
                f"got {self.layer_types!r}"
            )
        if isinstance(self.exclude, str) or not all(isinstance(n, str) for n in self.exclude):
            raise TypeError(f"exclude must be a tuple of module names such as ('9',), got {self.exclude!r}")


def _layers(model: nn.Module, cfg: PruneConfig) -> list[tuple[str, nn.Module]]:
    """Return the (name, module) pairs ``cfg`` prunes, or raise naming what the model holds instead."""
    layers = [
        (n, m)
        for n, m in model.named_modules()
        if isinstance(m, cfg.layer_types) and n not in cfg.exclude and isinstance(m.weight, nn.Parameter)
    ]
    if not layers:
        kinds = sorted({type(m).__name__ for m in model.modules() if not list(m.children())})
        raise ValueError(
            f"{type(model).__name__} has no layer to prune: pruning looks for "
            f"{', '.join(t.__name__ for t in cfg.layer_types)} layers"
            f"{' not in exclude=' + repr(cfg.exclude) if cfg.exclude else ''}, and the model holds "
            f"only {', '.join(kinds) or 'no layers'}. Pass layer_types=(...) naming its layer types."
        )
    return layers


def prune(
    model: nn.Module, cfg: PruneConfig | None = None, *, task: Task | None = None, example: torch.Tensor | None = None
) -> nn.Module:
    """Return a pruned copy of ``model``; structured pruning traces the model on ``example`` (or one ``task`` input)."""
    cfg = PruneConfig() if cfg is None else cfg
    if not isinstance(cfg, PruneConfig):
        raise TypeError(f"pass a PruneConfig, e.g. PruneConfig(sparsity=0.5), got {type(cfg).__name__}")
    pruned = copy.deepcopy(model).eval()
    layers = _layers(pruned, cfg)
    if cfg.structured:
        return _remove_channels(pruned, cfg, task.example(1) if example is None and task is not None else example)
    with torch.no_grad():
        if cfg.scope == "layer":  # a generator: one layer's mask at a time, since topk needs ~30 bytes a weight
            masks = (magnitude_mask(m.weight, cfg.sparsity) for _, m in layers)
        else:  # rank every weight of every layer together: one threshold
            flat = magnitude_mask(torch.cat([m.weight.flatten() for _, m in layers]), cfg.sparsity)
            masks = flat.split([m.weight.numel() for _, m in layers])
        for (_, m), mask in zip(layers, masks, strict=True):
            m.weight.mul_(mask.view_as(m.weight))  # zeros written into the weights: no mask or hook is left
    return pruned


def _remove_channels(model: nn.Module, cfg: PruneConfig, example: torch.Tensor | None) -> nn.Module:
    """Physically remove the lowest-L1 channels of every prunable layer (Torch-Pruning), in place."""
    if not isinstance(example, torch.Tensor):
        raise ValueError(
            "structured pruning traces the model to find which layers consume which channels: "
            "pass an example input or a task, e.g. prune(model, cfg, task=task)"
        )
    for name, module in model.named_modules():
        if list(module.parameters(recurse=False)) and not isinstance(module, _TP_KNOWN):
            raise ValueError(
                f"structured pruning cannot handle layer {name!r} ({type(module).__name__}): it owns "
                "parameters that are not inside a standard layer, so Torch-Pruning cannot tell which "
                "dimension holds channels. Build it from nn.Linear/nn.Conv2d, or use structured=False."
            )
    output, before = _output_layer(model, example)
    layers = [(n, m) for n, m in _layers(model, cfg) if m is not output]
    prunable = {id(m) for _, m in layers}
    if not prunable:
        raise ValueError(
            "structured pruning found nothing to shrink: the only prunable layer produces the model's output, whose "
            "size must not change"
        )
    if cfg.scope == "layer":
        _check_reachable(layers, cfg.sparsity)
    # Torch-Pruning prunes every Conv/Linear not ignored: ignore the output layer, excluded and left-out layers.
    ignored = [
        m for m in model.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)) and id(m) not in prunable
    ]
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=cfg.sparsity,
        global_pruning=cfg.scope == "global",
        ignored_layers=ignored,
    )
    pruner.step()
    with torch.no_grad():
        after = _run(model, example, "after removing channels")
    if after.shape != before.shape:
        raise ValueError(
            f"structured pruning changed the output shape from {list(before.shape)} to "
            f"{list(after.shape)}; exclude the layers that produce the output via exclude=(...)"
        )
    return model.eval()


def _check_reachable(layers: list[tuple[str, nn.Module]], sparsity: float) -> None:
    """Raise if a layer would keep no channel: Torch-Pruning would silently leave it whole instead."""
    short = {n: m.weight.shape[0] for n, m in layers if int(m.weight.shape[0] * (1 - sparsity)) < 1}
    if short:
        names = ", ".join(f"{n!r} ({c} channels: at most {(c - 1) / c:.3f})" for n, c in list(short.items())[:4])
        raise ValueError(
            f"structured sparsity {sparsity} would leave no channel in {len(short)} layer(s): {names}. Every layer "
            f"keeps at least one channel: use a lower sparsity, or exclude=(...) those layers"
        )


def _run(model: nn.Module, example: torch.Tensor, when: str) -> torch.Tensor:
    try:
        return model(example)
    except RuntimeError as err:
        raise ValueError(
            f"the model fails {when} on an input of shape {list(example.shape)}: {err}. If this "
            "happens only after pruning, its forward probably hard-codes a channel count "
            "(e.g. x.view(-1, 2048)): use x.flatten(1), or prune with structured=False."
        ) from err


def _output_layer(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """Return the last Linear/Conv layer run (it makes the output, so its width stays) and the output."""
    order: list[nn.Module] = []
    handles = [
        m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
        for m in model.modules()
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
    ]
    try:
        with torch.no_grad():
            out = _run(model, example, "before pruning")
    finally:
        for h in handles:
            h.remove()
    if not order:
        raise ValueError(f"{type(model).__name__} runs no Linear or Conv layer: nothing to prune structurally")
    return order[-1], out


def layer_sparsity(model: nn.Module, layer_types: tuple[type[nn.Module], ...] = LAYER_TYPES) -> dict[str, float]:
    """Return {layer name: fraction of its weights that are zero} for every layer of ``layer_types``."""
    return {
        n: 1.0 - torch.count_nonzero(m.weight).item() / m.weight.numel()
        for n, m in model.named_modules()
        if isinstance(m, layer_types)
    }


def sparsity(model: nn.Module, layer_types: tuple[type[nn.Module], ...] = LAYER_TYPES) -> float:
    """Return the fraction of zeros among all weights of the ``layer_types`` layers (biases not counted)."""
    weights = [m.weight for m in model.modules() if isinstance(m, layer_types)]
    total = sum(w.numel() for w in weights)
    if not total:
        raise ValueError(f"{type(model).__name__} has no {', '.join(t.__name__ for t in layer_types)} layer")
    return 1.0 - sum(torch.count_nonzero(w).item() for w in weights) / total


class _KeepZeros(nn.Module):
    """A parametrization: the layer uses weight * mask, so a pruned weight gets no gradient and stays zero."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


@contextmanager
def _zeros_frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Keep every zero weight of ``model``'s layers at zero while training inside the block."""
    layers = [m for m in model.modules() if isinstance(m, LAYER_TYPES)]
    for m in layers:
        parametrize.register_parametrization(m, "weight", _KeepZeros(m.weight.detach() != 0))
    try:
        yield model
    finally:  # bake weight * mask back into a plain weight: no parametrization left in the state_dict
        for m in layers:
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)


def finetune(
    model: nn.Module, *, task: Task, epochs: int | None = None, lr: float = 1e-3, progress: bool = False
) -> nn.Module:
    """Return a copy of ``model`` trained with ``ll.train.fit_`` while every pruned (zero) weight stays zero.

    ``epochs``: None trains 10 epochs (quick mode: 4).
    """
    tuned = copy.deepcopy(model)
    epochs = config.epochs(epochs, 10, 4)
    with _zeros_frozen(tuned):
        train.fit_(tuned, task, epochs=epochs, lr=lr, patience=epochs, progress=progress)
    return tuned.eval()


def cubic_schedule(initial: float, final: float, steps: int) -> list[float]:
    """Return the sparsity after each of ``steps`` pruning steps: Zhu & Gupta (2017)'s gradual cubic schedule.

    s_t = final + (initial - final) * (1 - t / steps) ** 3: big cuts first, while many redundant weights
    remain, then ever smaller ones as the network has less left to give.
    """
    _check_sparsity(initial, "initial"), _check_sparsity(final, "final")
    if steps < 1 or final < initial:
        raise ValueError(f"need steps >= 1 and final >= initial, got steps={steps}, {initial} -> {final}")
    return [final + (initial - final) * (1 - t / steps) ** 3 for t in range(1, steps + 1)]


@dataclass(frozen=True)
class IterativePruneConfig:
    """Gradual pruning: reach ``final_sparsity`` in ``steps`` cubic-schedule steps, fine-tuning after each one."""

    final_sparsity: float
    steps: int = 5
    epochs_per_step: int | None = None  # None: 3 (quick mode: 2)
    scope: str = "global"
    lr: float = 1e-3  # Adam's learning rate while fine-tuning

    def __post_init__(self) -> None:
        _check_sparsity(self.final_sparsity, "final_sparsity")
        PruneConfig(scope=self.scope)  # the same check and message as one-shot pruning
        if not (type(self.steps) is int and self.steps >= 1):
            raise ValueError(f"steps must be a whole number >= 1 (prune-and-fine-tune rounds), got {self.steps!r}")
        if self.epochs_per_step is not None and not (type(self.epochs_per_step) is int and self.epochs_per_step >= 1):
            raise ValueError(
                f"epochs_per_step must be None (the default: 3, quick mode 2) or a whole number >= 1, "
                f"got {self.epochs_per_step!r}"
            )
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0:
            raise ValueError(f"lr must be a number > 0 (Adam's learning rate), got {self.lr!r}")

    @property
    def n_epochs(self) -> int:
        """Return the fine-tuning epochs after each step (the quick-mode default when ``epochs_per_step`` is None)."""
        return config.epochs(self.epochs_per_step, 3, 2)

    def schedule(self) -> list[float]:
        """Return the sparsity after each step (``cubic_schedule`` from 0)."""
        return cubic_schedule(0.0, self.final_sparsity, self.steps)


def prune_iteratively(model: nn.Module, cfg: IterativePruneConfig, *, task: Task) -> tuple[nn.Module, Report]:
    """Return (model, Report): prune along ``cfg``'s cubic schedule, fine-tuning after each step; ``model`` is kept."""
    if not isinstance(cfg, IterativePruneConfig):
        raise TypeError(f"pass an IterativePruneConfig, e.g. IterativePruneConfig(final_sparsity=0.9), got {cfg!r}")
    current = copy.deepcopy(model).eval()
    report = Report(environment=measure.environment())

    def add(step: int, sparsity_method: str, accuracy_method: str) -> None:
        report.add(f"step {step}", "sparsity", 100 * sparsity(current), "%", sparsity_method)
        accuracy = 100 * train.evaluate(current, task, metric="accuracy")
        report.add(f"step {step}", "accuracy", accuracy, "%", accuracy_method)

    add(0, "zero weights / Linear+Conv weights", "test split, before pruning")
    for step, target in enumerate(cfg.schedule(), start=1):
        # Already-pruned weights are zero, the smallest magnitudes, so each step's mask contains the last one.
        pruned = prune(current, PruneConfig(target, cfg.scope))
        current = finetune(pruned, task=task, epochs=cfg.n_epochs, lr=cfg.lr)
        add(
            step,
            f"cubic schedule step {step}/{cfg.steps}, magnitude pruning, {cfg.scope} scope",
            f"test split, after {cfg.n_epochs} fine-tuning epoch(s) (Adam, lr {cfg.lr:g}), pruned weights held at 0",
        )
    return current, report


def layer_sensitivity(
    model: nn.Module,
    *,
    task: Task,
    sparsities: Sequence[float] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99),
    split: str = "val",
    layer_types: tuple[type[nn.Module], ...] = LAYER_TYPES,
) -> pd.DataFrame:
    """Return a tidy table of accuracy when each layer alone is magnitude-pruned to each sparsity."""
    names = [n for n, _ in _layers(model, PruneConfig(layer_types=layer_types))]
    rows = []
    for name in names:
        others = tuple(n for n in names if n != name)
        for s in sparsities:
            pruned = prune(model, PruneConfig(s, layer_types=layer_types, exclude=others))
            rows.append(
                {
                    "layer": f"{name} ({type(model.get_submodule(name)).__name__})",
                    "sparsity": s,
                    "accuracy": 100 * train.evaluate(pruned, task, split),
                    "unit": "%",
                    "method": f"{split} split; only this layer magnitude-pruned, no fine-tuning",
                }
            )
    return pd.DataFrame(rows)


def speed_comparison(
    model: nn.Module, *, example: torch.Tensor, sparsity: float = 0.9, channels: float = 0.5, repeats: int | None = None
) -> Report:
    """Return a Report timing ``model`` dense, with unstructured zeros (dense and CSR kernels) and structured.

    The variants take turns (``ll.measure.interleaved``) on ``example``, whose first dimension is the batch.
    """
    zeros = prune(model, PruneConfig(sparsity))
    variants = {
        "dense": model,
        f"unstructured {sparsity:.0%}, dense kernel": zeros,
        f"unstructured {sparsity:.0%}, CSR kernel": to_sparse(zeros, min_sparsity=0.0),
        f"structured {channels:.0%} of channels": prune(
            model, PruneConfig(channels, structured=True), example=example[:1]
        ),
    }
    report = Report(environment=measure.environment())
    for name, timing in measure.interleaved(variants, example, repeats=repeats).items():
        measure.add_timing(report, name, timing)
        report.add(name, "nonzero_params", count_nonzero(variants[name]), "count", "parameter elements != 0")
        report.add(name, "size", measure.serialized_size(variants[name]), "bytes", "torch.save(state_dict) bytes")
    return report

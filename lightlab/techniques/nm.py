"""N:M sparsity: in every group of M consecutive weights along a layer's input dimension, keep the N largest.

2:4 is the pattern NVIDIA's sparse tensor cores (Ampere and later) execute: they store the 2 kept values of each
group of 4 with a 2-bit position each and skip the zeros, which runs the matrix multiply up to 2x faster (Mishra
et al. 2021, "Accelerating Sparse Deep Neural Networks"; the whole network gains less, since not everything is a
matrix multiply). It is 50 % sparsity under a constraint, so it may cost more accuracy than unstructured pruning
at 50 %, which puts its zeros anywhere. Without such hardware, a dense kernel (this CPU's) multiplies the zeros like
any other number: the masked model is no faster. ``nm_prune`` applies the pattern, ``compare_unstructured`` measures
its accuracy cost with a paired test, ``speed`` times it against the dense model.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement import measure, metrics, stats
from lightlab.measurement.report import Report
from lightlab.techniques.prune import LAYER_TYPES, PruneConfig, finetune, prune, sparsity


def _check_nm(n: int, m: int) -> None:
    if not (type(n) is int and type(m) is int and 1 <= n <= m):
        raise ValueError(f"need whole numbers 1 <= n <= m (keep n of every m weights, e.g. n=2, m=4), got {n}:{m}")


def _grouped(weight: torch.Tensor, m: int) -> torch.Tensor:
    """Return ``weight`` as [groups, m]: m consecutive weights along the input dimension per row (a view if it can)."""
    if weight.dim() < 2:
        raise ValueError(f"N:M sparsity groups a layer's weight [out, in, ...]; got a {weight.dim()}-D tensor")
    # A conv weight [out, in, kh, kw] is read input channel last, as NHWC kernels do: the group runs along channels.
    rows = weight if weight.dim() == 2 else weight.movedim(1, -1)
    if rows.shape[-1] % m:
        raise ValueError(
            f"the input dimension ({rows.shape[-1]}) is not a multiple of m={m}: groups of {m} consecutive weights "
            "do not tile it; leave this layer dense (exclude it)"
        )
    return rows.reshape(-1, m)


def nm_mask(weight: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """Return a bool mask (True = keep) keeping the ``n`` largest |w| of every ``m`` consecutive input weights."""
    _check_nm(n, m)
    groups = _grouped(weight.detach().abs(), m)
    # A stable sort keeps exactly n per group, ties going to the earlier position (a threshold would keep them all).
    order = torch.sort(groups, dim=1, descending=True, stable=True).indices
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, order[:, :n], True)
    if weight.dim() == 2:
        return keep.view_as(weight)
    return keep.view(weight.movedim(1, -1).shape).movedim(-1, 1).contiguous()


@dataclass(frozen=True)
class NMConfig:
    """Which pattern (keep ``n`` of every ``m``) on which layers; a layer whose input dimension ``m`` does not
    divide is left dense (it is listed by ``plan``), as NVIDIA's own pruning tool (ASP) does."""

    n: int = 2
    m: int = 4
    layer_types: tuple[type[nn.Module], ...] = LAYER_TYPES
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_nm(self.n, self.m)
        PruneConfig(layer_types=self.layer_types, exclude=self.exclude)  # the same checks and messages

    @property
    def name(self) -> str:
        """Return the pattern's name: '2:4'."""
        return f"{self.n}:{self.m}"


def plan(model: nn.Module, cfg: NMConfig | None = None) -> dict[str, str]:
    """Return {layer name: the pattern it gets, or why it stays dense} for every layer of ``cfg.layer_types``."""
    cfg = cfg or NMConfig()
    out = {}
    for name, layer in model.named_modules():
        if not isinstance(layer, cfg.layer_types) or name in cfg.exclude:
            continue
        width = layer.weight.shape[1]  # in_features, or a conv's input channels
        out[name] = cfg.name if width % cfg.m == 0 else f"dense: {width} input channels, not a multiple of {cfg.m}"
    return out


def nm_prune(model: nn.Module, cfg: NMConfig | None = None) -> nn.Module:
    """Return a copy of ``model`` with the N:M zeros written into every layer ``plan`` gives the pattern."""
    cfg = cfg or NMConfig()
    if not isinstance(cfg, NMConfig):
        raise TypeError(f"pass an NMConfig, e.g. NMConfig(n=2, m=4), got {type(cfg).__name__}")
    pruned = copy.deepcopy(model).eval()
    layers = [name for name, what in plan(pruned, cfg).items() if what == cfg.name]
    if not layers:
        raise ValueError(
            f"no layer of {type(model).__name__} can take {cfg.name} sparsity: none has an input dimension that is a "
            f"multiple of {cfg.m} (see nm.plan(model))"
        )
    with torch.no_grad():
        for name in layers:
            weight = pruned.get_submodule(name).weight
            weight.mul_(nm_mask(weight, cfg.n, cfg.m))
    return pruned


def compare_unstructured(
    model: nn.Module, task: Task, cfg: NMConfig | None = None, *, epochs: int | None = 0
) -> tuple[Report, stats.Paired]:
    """Return (Report, paired test): ``model``, N:M and unstructured magnitude pruning of the same layers at the same
    sparsity (per layer), each fine-tuned ``epochs`` with its zeros held (0: not fine-tuned; None: ``finetune``'s
    default); the test is the exact McNemar test of N:M against unstructured on the same test inputs."""
    cfg = cfg or NMConfig()
    share = 1 - cfg.n / cfg.m
    layers = plan(model, cfg)
    nm_layers = [name for name, what in layers.items() if what == cfg.name]
    others = (*cfg.exclude, *(name for name in layers if name not in nm_layers))
    variants = {
        "dense": model,
        f"{cfg.name} (N:M)": nm_prune(model, cfg),
        f"unstructured {share:.0%}": prune(model, PruneConfig(share, layer_types=cfg.layer_types, exclude=others)),
    }
    if epochs != 0:
        variants = {k: v if k == "dense" else finetune(v, task=task, epochs=epochs) for k, v in variants.items()}
    tuned = "" if epochs == 0 else ", fine-tuned with its zeros held"
    report = Report(environment=measure.environment())
    predictions = {}
    for name, variant in variants.items():
        y, predictions[name] = metrics.predictions(variant, task.loader("test", shuffle=False))
        correct = int((predictions[name] == y).sum())
        how = "" if name == "dense" else f"; the same {len(nm_layers)} layers pruned by magnitude{tuned}"
        report.add(
            name,
            "accuracy",
            100 * correct / len(y),
            "%",
            f"test split, {len(y)} inputs{how}",
            interval=stats.wilson(correct, len(y)),
        )
        report.add(name, "sparsity", 100 * sparsity(variant, cfg.layer_types), "%", "zero weights / all weights")
    a, b = list(variants)[1:]
    return report, stats.compare(y, predictions[a], predictions[b], names=(a, b))


def speed(
    model: nn.Module,
    cfg: NMConfig | None = None,
    *,
    example: torch.Tensor,
    batch_sizes: Sequence[int] = (1, 64),
    repeats: int | None = None,
) -> Report:
    """Return a Report timing ``model`` dense and with its N:M zeros, both on this machine's dense kernels, in turns
    (``measure.interleaved``, ``repeats`` calls per round: default 50, quick mode 10) at each batch size;
    ``example``'s rows are repeated to make the batches."""
    cfg = cfg or NMConfig()
    repeats = int(repeats or config.pick(50, 10))
    variants = {"dense": model, f"{cfg.name} zeros, dense kernel": nm_prune(model, cfg)}
    report = Report(environment=measure.environment())
    for b in batch_sizes:
        x = example[torch.arange(b) % len(example)]
        for name, timing in measure.interleaved(variants, x, repeats=repeats).items():
            measure.add_timing(report, name, timing)
    for name, variant in variants.items():
        nonzero = sum(int(torch.count_nonzero(p)) for p in variant.parameters())
        report.add(name, "nonzero_params", nonzero, "count", "parameter elements != 0")
    return report

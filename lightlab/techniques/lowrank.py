"""Low-rank factorization: replace a weight matrix W (m × n) by two thin ones, U (m × r) times V (r × n).

``lowrank(model, LowRankConfig(rank=16, layers=("6",)))`` returns a new model in which each chosen layer is a
``Factored`` pair: first V (n inputs to r), then U (r to m outputs, with the original bias). The truncated SVD gives
the best rank-r approximation (Eckart–Young: squared Frobenius error = sum of the squared singular values left out).
The pair holds r·(m + n) weights instead of m·n: smaller only below the break-even rank m·n / (m + n); and two small
multiplies are not always faster than one big one (``layer_timing`` measures it). A k×k convolution, its weight read
as a c_out × (c_in·k·k) matrix, becomes a k×k convolution with r output channels, then a 1×1 convolution.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement import measure
from lightlab.measurement.report import Report
from lightlab.techniques import train

LAYER_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
DEFAULT_ENERGY = 0.9  # the share of sum(s²) kept when a config names neither a rank nor an energy share
_CONVS = {1: nn.Conv1d, 2: nn.Conv2d}


def _check_rank(rank: object, where: str = "rank", shape: tuple[int, int] | None = None) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int):
        raise TypeError(f"{where} must be a whole number >= 1 (the inner width r of U·V), got {rank!r}")
    if rank < 1:
        raise ValueError(f"{where} must be >= 1 (the inner width r of U·V), got {rank}")
    if shape and rank > min(shape):
        raise ValueError(f"{where} {rank} is too high: a {shape[0]} × {shape[1]} matrix has rank at most {min(shape)}")
    return rank


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def factorize(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (U, V), U of shape (m, rank) and V of shape (rank, n), with U @ V the best rank-``rank`` W ≈ weight.

    The truncated SVD W = U_r S_r V_rᵀ, with sqrt(S_r) on each side: U = U_r·sqrt(S_r), V = sqrt(S_r)·V_rᵀ, so both
    factors have the same scale (which fine-tuning and int8 prefer).
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        shape = list(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(
            f"factorize takes a 2-D weight matrix (out × in), got {shape}; reshape a convolution's weight "
            "first: weight.flatten(1)"
        )
    _check_rank(rank, shape=tuple(weight.shape))
    return _split(_svd(weight), rank, weight.dtype)


def _svd(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the thin SVD (U, S, Vh) of ``weight`` (a conv's flattened to out × rest), in float64."""
    # One thread: LAPACK's threaded SVD crawls when other processes hold the cores (a 512 × 2048 SVD took 22 s
    # instead of 0.4 s on a busy 2-core machine). float64: at full rank U @ V gives W back to float32 precision.
    with config.using_threads(1):
        return torch.linalg.svd(weight.detach().flatten(1).double(), full_matrices=False)


def _split(svd: tuple[torch.Tensor, ...], rank: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = svd
    root = s[:rank].sqrt()
    return (u[:, :rank] * root).to(dtype), (root[:, None] * vh[:rank]).to(dtype)


def singular_values(weight: torch.Tensor) -> torch.Tensor:
    """Return the singular values of ``weight`` (a convolution's read as out × rest), largest first."""
    return _svd(weight)[1].float()


def energy_rank(values: torch.Tensor, share: float) -> int:
    """Return the smallest r whose r largest singular values hold ``share`` of sum(s²)."""
    kept = torch.cumsum(values.double() ** 2, 0) / (values.double() ** 2).sum()
    return int(torch.searchsorted(kept, torch.tensor(share, dtype=kept.dtype) - 1e-12)) + 1


def matrix_shape(layer: nn.Module) -> tuple[int, int]:
    """Return (m, n), the weight of ``layer`` as the matrix that is factored (a conv's: c_out × c_in·k·k)."""
    return layer.weight.shape[0], layer.weight[0].numel()


def factored_params(m: int, n: int, rank: int) -> int:
    """Return the weights of a rank-``rank`` factorization of an m × n matrix: rank·(m + n) (biases not counted)."""
    return rank * (m + n)


def breakeven_rank(m: int, n: int) -> float:
    """Return m·n / (m + n): a rank below it has fewer weights than the m × n matrix."""
    return m * n / (m + n)


class Factored(nn.Sequential):
    """A layer replaced by two: V (to ``rank`` channels, no bias), then U (to the outputs, with the bias)."""

    @property
    def rank(self) -> int:
        """Return r, the width between the two layers."""
        return self[0].weight.shape[0]


def factor_layer(layer: nn.Module, rank: int) -> Factored:
    """Return a ``Factored`` pair computing ``layer`` with its weight replaced by the rank-``rank`` U @ V."""
    return _factor(layer, rank, _svd(layer.weight))


def _factor(layer: nn.Module, rank: int, svd: tuple[torch.Tensor, ...]) -> Factored:
    m, n = matrix_shape(layer)
    _check_rank(rank, shape=(m, n))
    u, v = _split(svd, rank, layer.weight.dtype)
    bias = layer.bias is not None
    if isinstance(layer, nn.Linear):
        first, second = nn.Linear(n, rank, bias=False), nn.Linear(rank, m, bias=bias)
    else:  # the k×k conv keeps stride, padding and dilation; the 1×1 conv mixes its r channels into c_out
        conv = _CONVS[layer.weight.dim() - 2]
        geometry = (layer.kernel_size, layer.stride, layer.padding, layer.dilation)
        first = conv(layer.in_channels, rank, *geometry, bias=False, padding_mode=layer.padding_mode)
        second = conv(rank, m, 1, bias=bias)
    with torch.no_grad():
        first.weight.copy_(v.view_as(first.weight))
        second.weight.copy_(u.view_as(second.weight))
        if bias:
            second.bias.copy_(layer.bias)
    return Factored(first, second).to(layer.weight.device).train(layer.training)


@dataclass(frozen=True)
class LowRankConfig:
    """What to factor: a rank (one for all layers, or {layer: rank}) or an energy share, which layers, fine-tuning.

    - ``rank``: an int for every chosen layer, or a dict {layer name: rank} (it then names the layers itself).
    - ``energy``: instead of a rank, keep in each layer the fewest singular values holding this share of sum(s²).
      Neither given: ``energy`` 0.9.
    - ``layers``: module names as in ``model.named_modules()``; None: every Linear/Conv1d/Conv2d layer that the
      factorization makes smaller (a rank at or above m·n / (m + n) would make it larger, so it is left whole).
    - ``epochs``: fine-tuning epochs after factorizing (``ll.train.fit_``; 0: none, needs ``task`` otherwise).
    """

    rank: int | Mapping[str, int] | None = None
    energy: float | None = None
    layers: tuple[str, ...] | None = None
    epochs: int = 0
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rank is not None and self.energy is not None:
            raise ValueError(
                f"give a rank or an energy share, not both: got rank={self.rank!r}, energy={self.energy!r}"
            )
        if isinstance(self.rank, Mapping):
            if not self.rank:
                raise ValueError("rank={} names no layer: give {layer name: rank}, e.g. {'6': 16}")
            if self.layers is not None:
                raise ValueError("a rank dict already names the layers: leave layers unset")
            for name, r in self.rank.items():
                if not isinstance(name, str):
                    raise TypeError(f"the keys of a rank dict are layer names (str) such as '6', got {name!r}")
                _check_rank(r, f"rank[{name!r}]")
            object.__setattr__(self, "rank", dict(self.rank))  # a copy: a later change to the caller's dict is not ours
        elif self.rank is not None:
            _check_rank(self.rank)
        if self.energy is not None and not (_is_number(self.energy) and 0 < self.energy <= 1):
            raise ValueError(
                f"energy must be a share in (0, 1] of the sum of squared singular values, got {self.energy!r}; "
                "0.9 keeps the fewest singular values that hold 90 % of it"
            )
        if self.layers is not None and (
            isinstance(self.layers, str) or not self.layers or not all(isinstance(n, str) for n in self.layers)
        ):
            raise TypeError(f"layers must be a non-empty tuple of module names such as ('6',), got {self.layers!r}")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be a whole number >= 0 (0: no fine-tuning), got {self.epochs!r}")
        if not (_is_number(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0 (Adam's learning rate), got {self.lr!r}")


def _candidates(model: nn.Module) -> dict[str, nn.Module]:
    """Return {name: layer} of every layer that can be factored (not one already inside a Factored pair)."""
    inside = {id(m) for f in model.modules() if isinstance(f, Factored) for m in f.children()}
    layers = {n: m for n, m in model.named_modules() if type(m) in LAYER_TYPES and id(m) not in inside}
    return {n: m for n, m in layers.items() if getattr(m, "groups", 1) == 1}  # a grouped conv is not one matrix


def plan(model: nn.Module, cfg: LowRankConfig | None = None) -> dict[str, int]:
    """Return {layer name: rank} that ``lowrank(model, cfg)`` factors, or raise naming what cannot be done."""
    return _plan(model, cfg, {})


def _svd_of(svds: dict[str, tuple], name: str, layer: nn.Module) -> tuple[torch.Tensor, ...]:
    """Return layer ``name``'s SVD from ``svds``, computing it on first use (a sweep factors a layer many times)."""
    if name not in svds:
        svds[name] = _svd(layer.weight)
    return svds[name]


def _plan(model: nn.Module, cfg: LowRankConfig | None, svds: dict[str, tuple]) -> dict[str, int]:
    cfg = LowRankConfig() if cfg is None else cfg
    if not isinstance(cfg, LowRankConfig):
        raise TypeError(f"pass a LowRankConfig, e.g. LowRankConfig(rank=16), got {type(cfg).__name__}")
    found = _candidates(model)
    named = list(cfg.rank) if isinstance(cfg.rank, dict) else cfg.layers
    for name in named or ():
        if name not in found:
            raise ValueError(
                f"no layer {name!r} to factor in {type(model).__name__}: the Linear/Conv1d/Conv2d layers "
                f"(groups=1) are {', '.join(map(repr, found)) or 'none'}"
            )
    chosen: dict[str, int] = {}
    for name in named or found:
        m, n = matrix_shape(found[name])
        if isinstance(cfg.rank, dict):
            rank = cfg.rank[name]
        elif cfg.rank is not None:
            rank = cfg.rank
        else:
            rank = energy_rank(_svd_of(svds, name, found[name])[1], cfg.energy or DEFAULT_ENERGY)
        if named is None and rank >= breakeven_rank(m, n):
            continue  # left whole: factored, it would hold more weights than it does now
        chosen[name] = _check_rank(rank, f"layer {name!r}: rank", (m, n))
    if not chosen:
        limits = ", ".join(f"{k!r}: {breakeven_rank(*matrix_shape(v)):.1f}" for k, v in found.items())
        raise ValueError(
            f"nothing to factor: at this rank no layer would get smaller (break-even ranks m·n/(m+n): "
            f"{limits or 'no Linear/Conv layer'}); lower the rank or the energy share, or name layers=(...)"
        )
    return chosen


def _run(model: nn.Module, example: torch.Tensor, when: str) -> torch.Tensor:
    was_training = model.training
    try:
        with torch.no_grad():
            return model.eval()(example)
    except (RuntimeError, AttributeError) as err:  # a forward that reads layer.weight itself fails once factored
        raise ValueError(
            f"the model fails {when} on an input of shape {list(example.shape)}: {err}. If only after, its forward "
            "uses a layer's weight directly: leave that layer out (layers=(...))"
        ) from err
    finally:
        model.train(was_training)  # the caller's model comes back in the mode it came in


def lowrank(
    model: nn.Module, cfg: LowRankConfig | None = None, *, task: Task | None = None, example: torch.Tensor | None = None
) -> nn.Module:
    """Return a copy of ``model`` with each chosen layer replaced by a ``Factored`` pair (fine-tuned if asked).

    ``example`` (or one ``task`` input) is run before and after: a forward that reads a factored layer's weight itself
    would fail, and is reported with the fix.
    """
    return _lowrank(model, cfg, task, example, {})


def _lowrank(
    model: nn.Module, cfg: LowRankConfig | None, task: Task | None, example: torch.Tensor | None, svds: dict
) -> nn.Module:
    cfg = LowRankConfig() if cfg is None else cfg
    chosen = _plan(model, cfg, svds)
    if cfg.epochs and task is None:
        raise ValueError(f"fine-tuning ({cfg.epochs} epochs) needs data: pass task=..., or set epochs=0")
    example = task.example(2) if example is None and task is not None else example
    before = None if example is None else _run(model, example, "before factorizing")
    factored = copy.deepcopy(model)
    for name, rank in chosen.items():
        pair = _factor(model.get_submodule(name), rank, _svd_of(svds, name, model.get_submodule(name)))
        if not name:  # the model is itself one layer
            factored = pair
            continue
        parent, _, leaf = name.rpartition(".")
        setattr(factored.get_submodule(parent), leaf, pair)
    if cfg.epochs:
        train.fit_(factored, task, epochs=cfg.epochs, lr=cfg.lr, patience=cfg.epochs, seed=cfg.seed, progress=False)
    if before is not None:
        after = _run(factored, example, "after factorizing")
        if after.shape != before.shape:
            raise ValueError(f"factorizing changed the output shape from {list(before.shape)} to {list(after.shape)}")
    return factored.eval()


def factored_layers(model: nn.Module) -> dict[str, int]:
    """Return {name: rank} of every ``Factored`` pair in ``model``."""
    return {n: m.rank for n, m in model.named_modules() if isinstance(m, Factored)}


def variants(
    model: nn.Module,
    ranks: Sequence[int],
    layers: tuple[str, ...] | None = None,
    *,
    task: Task | None = None,
    epochs: int = 0,
) -> dict[str, nn.Module]:
    """Return {"original": model, "rank r": factored copy, ...} for each rank in ``ranks``."""
    if not ranks:
        raise ValueError("ranks is empty: give the ranks to compare, e.g. (4, 16, 64)")
    svds: dict[str, tuple] = {}  # one SVD per layer, sliced for every rank
    return {"original": model} | {
        f"rank {r}": _lowrank(model, LowRankConfig(rank=r, layers=layers, epochs=epochs), task, None, svds)
        for r in ranks
    }


@torch.no_grad()
def _kept_and_error(original: nn.Module, factored: nn.Module, spectra: dict) -> tuple[float, float]:
    """Return (share of sum(s²) kept, relative Frobenius error of the weights), over the factored layers, in %."""
    kept = total = error = 0.0
    for name, pair in original.named_modules():
        new = factored.get_submodule(name) if name else factored
        if not isinstance(new, Factored) or isinstance(pair, Factored):
            continue
        if name not in spectra:  # one SVD per layer for the whole sweep
            spectra[name] = singular_values(pair.weight).double() ** 2
        s2 = spectra[name]
        kept, total = kept + float(s2[: new.rank].sum()), total + float(s2.sum())
        approx = new[1].weight.flatten(1) @ new[0].weight.flatten(1)
        error += float(((pair.weight.flatten(1) - approx) ** 2).sum())
    return 100 * kept / total, 100 * math.sqrt(error / total)


def rank_sweep(
    model: nn.Module,
    ranks: Sequence[int],
    *,
    task: Task,
    layers: tuple[str, ...] | None = None,
    batch_sizes: tuple[int, ...] = (1, 64),
    epochs: int = 0,
    repeats: int | None = None,
) -> Report:
    """Return a Report measuring the original and one factored copy per rank (``ll.measure.measure``, interleaved):
    accuracy, params, size from the bytes written, MACs, latency, plus the rank, energy kept and weight error."""
    models = variants(model, ranks, layers, task=task, epochs=epochs)
    report = measure.measure(models, task, batch_sizes=batch_sizes, repeats=repeats)
    dense = {
        n: min(matrix_shape(model.get_submodule(n))) for f in list(models.values())[1:] for n in factored_layers(f)
    }
    report.add("original", "rank", max(dense.values()), "count", f"full rank of the layers factored below: {dense}")
    tuned, spectra = (f", then {epochs} fine-tuning epoch(s)" if epochs else ""), {}
    for name, factored in list(models.items())[1:]:
        kept, error = _kept_and_error(model, factored, spectra)
        here = factored_layers(factored)
        report.add(name, "rank", max(here.values()), "count", f"inner width r of each factored layer: {here}")
        report.add(name, "energy_kept", kept, "%", "sum of kept s² / sum of s², factored layers, before fine-tuning")
        report.add(name, "weight_error", error, "%", f"||W - UV||_F / ||W||_F over the factored layers{tuned}")
    return report


def _layer_inputs(model: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """Return what layer ``name`` of ``model`` receives when the model runs on ``x`` (a forward hook)."""
    seen: list[torch.Tensor] = []
    handle = model.get_submodule(name).register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].detach()))
    try:
        _run(model, x, "while capturing a layer's inputs")
    finally:
        handle.remove()
    return seen[0]


def layer_timing(
    model: nn.Module,
    layer: str,
    ranks: Sequence[int],
    *,
    task: Task,
    batch_sizes: tuple[int, ...] = (1, 64),
    repeats: int | None = None,
) -> Report:
    """Return a Report timing layer ``layer`` alone, dense and factored at each rank, on the inputs it really gets.

    Rows: latency (interleaved rounds, per batch size), params, MACs per sample and the MAC ratio dense / factored.
    """
    dense = _candidates(model).get(layer)
    if dense is None:
        raise ValueError(f"no layer {layer!r} to time; the Linear/Conv layers are {', '.join(_candidates(model))}")
    svd = _svd(dense.weight)
    layers = {"dense": dense} | {f"rank {r}": _factor(dense, r, svd) for r in ranks}
    report = Report(environment=measure.environment())
    for b in batch_sizes:
        x = _layer_inputs(model, layer, task.example(b))
        for name, t in measure.interleaved(layers, x, repeats=repeats).items():
            measure.add_timing(report, name, t)
    one = _layer_inputs(model, layer, task.example(1))
    dense_macs = measure.count_macs(dense, one)
    for name, module in layers.items():
        macs = measure.count_macs(module, one)
        report.add(name, "params", measure.count_params(module), "count", f"layer {layer!r} alone, weights + bias")
        report.add(name, "macs", macs, "MACs", "torch FlopCounterMode / 2, per sample")
        report.add(name, "mac_ratio", dense_macs / macs, "x", "dense MACs / these MACs: the speed-up MACs predict")
    return report

"""Latency lookup table for hardware-aware NAS: what each layer adds to a model, measured on this machine.

``measure_table(models, input_shape)`` (``latency_table(space, task)`` for a search space, through
``measure_layers``) times every distinct layer, with its input shape, once: inside a one-layer model, minus an empty
one, all of them in turns with ``ll.measure.interleaved`` (LightLab's one timing rule). ``LatencyTable.predict``
adds the entries to the cost of calling a model; ``costs`` predicts every candidate of a space. The table knows
nothing of fused operators, caches shared between layers, other batch sizes, thread counts or machines:
``check_predictions`` (``check_table`` for a space) times whole models the same way to check it before it is
trusted. ``competition`` asks, per task, how close the fastest candidate with blocks comes to the hand-made
``TASK-small`` model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from lightlab.data import loaders
from lightlab.data.tasks import Task
from lightlab.measurement import measure, stats
from lightlab.measurement.report import Report
from lightlab.models import zoo
from lightlab.techniques import train
from lightlab.techniques.nas_space import Space, candidates, fold_batchnorm, make_layer


@dataclass
class LatencyTable:
    """Measured p50 (ms) each layer adds to a model, keyed by layer and input shape, plus the model call."""

    entries: dict[str, float]
    overhead_ms: float
    batch: int
    threads: int
    cpu: str = field(default_factory=measure.cpu_model)
    note: str | None = None  # set when other processes disturbed the timings

    @property
    def method(self) -> str:
        """Return how predictions are made."""
        return (
            f"latency table: model call + sum of what each layer adds (p50, measured on {self.cpu}), "
            f"batch {self.batch}, {self.threads} threads"
        )

    def predict(self, model: nn.Sequential, input_shape: tuple[int, ...]) -> float:
        """Return the predicted latency in ms of ``model`` (a Sequential) on one batch of ``input_shape``."""
        return self.total([k for k, _ in _layers(model, (self.batch, *input_shape))])

    def total(self, keys: Iterable[str]) -> float:
        """Return the predicted latency in ms of a model made of the layers ``keys`` (see ``layer_key``)."""
        keys = list(keys)
        missing = [k for k in keys if k not in self.entries]
        if missing:
            raise KeyError(
                f"the latency table has no entry for {missing[0]}; build the table for a space "
                f"that contains this model, or add() it"
            )
        return self.overhead_ms + sum(self.entries[k] for k in keys)

    def add(self, model: nn.Sequential, input_shape: tuple[int, ...], rounds: int | None = None) -> LatencyTable:
        """Measure the layers of ``model`` the table lacks (e.g. a hand-designed reference model); return self."""
        missing = {
            k: (layer, x)
            for (k, x), layer in zip(_layers(model, (self.batch, *input_shape)), model, strict=True)
            if k not in self.entries
        }
        if missing:
            entries, _, note = _measure(missing, torch.zeros(self.batch, *input_shape), rounds)
            self.entries |= entries
            self.note = self.note or note
        return self


def layer_key(layer: nn.Module, shape: Sequence[int]) -> str:
    """Return the table's key of ``layer`` fed a tensor of ``shape`` (batch first): the layer and its input."""
    return f"{layer!r} @ {list(shape)}"


def _layers(model: nn.Sequential, shape: tuple[int, ...]) -> list[tuple[str, torch.Tensor]]:
    """Return (key, input) for each top-level layer of ``model`` when fed zeros of ``shape``."""
    out, x = [], torch.zeros(shape)
    with torch.inference_mode():
        for layer in model.eval():
            out.append((layer_key(layer, x.shape), x))
            x = layer(x)
    return out


def measure_table(
    models: Iterable[nn.Sequential], input_shape: tuple[int, ...], batch: int = 1, rounds: int | None = None
) -> LatencyTable:
    """Return a LatencyTable measured on this machine for every distinct layer of ``models``."""
    layers: dict[str, tuple[nn.Module, torch.Tensor]] = {}
    for model in models:
        for (key, x), layer in zip(_layers(model, (batch, *input_shape)), model, strict=True):
            layers.setdefault(key, (layer, x))
    return measure_layers(layers, input_shape, batch, rounds)


def measure_layers(
    layers: Mapping[str, tuple[nn.Module, torch.Tensor]],
    input_shape: tuple[int, ...],
    batch: int = 1,
    rounds: int | None = None,
) -> LatencyTable:
    """Return a LatencyTable of ``layers`` ({``layer_key``: (layer, its input)}) for models of ``input_shape``."""
    wrong = next((k for k, (_, x) in layers.items() if x.shape[0] != batch), None)
    if wrong is not None:
        raise ValueError(f"the input of {wrong} has batch {layers[wrong][1].shape[0]}, not {batch}; give one batch")
    entries, overhead, note = _measure(dict(layers), torch.zeros(batch, *input_shape), rounds)
    return LatencyTable(entries, overhead, batch, torch.get_num_threads(), note=note)


class _OnOwnInput(nn.Sequential):
    """Layers run on their own stored input, whatever they are called with: layers that take inputs of different
    shapes can then be timed in turns by ``measure.interleaved``, which gives every model the same input."""

    def __init__(self, layers: list[nn.Module], x: torch.Tensor):
        super().__init__(*layers)
        self.own_input = x

    def forward(self, _ignored: torch.Tensor) -> torch.Tensor:
        return super().forward(self.own_input)


def _measure(
    layers: dict[str, tuple[nn.Module, torch.Tensor]], x0: torch.Tensor, rounds: int | None = None
) -> tuple[dict[str, float], float, str | None]:
    """Return each layer's added latency (ms) inside a model, the cost of calling an empty model, and the
    disturbed note (None on a quiet machine).

    A layer is timed inside a one-layer Sequential, minus the empty Sequential: the difference is what the layer
    adds to a model, without counting the timing loop's own overhead once per layer. All are timed in turns (p50,
    best round kept), so a burst of load from another program spoils one round, not a layer.
    """
    wrapped = {key: _OnOwnInput([layer], x) for key, (layer, x) in layers.items()}
    wrapped["model call"] = _OnOwnInput([], x0)  # an empty container: the cost of calling any model
    timings = measure.interleaved(wrapped, x0, rounds=rounds)
    call = timings.pop("model call")
    return {key: max(t.p50 - call.p50, 0.0) for key, t in timings.items()}, call.p50, call.note


def check_predictions(
    table: LatencyTable, models: Mapping[str, nn.Sequential], example: torch.Tensor, rounds: int | None = None
) -> Report:
    """Return each model's predicted latency, its measured latency (whole model, ``measure.interleaved``) and the
    prediction error |predicted - measured| / measured (%)."""
    if example.shape[0] != table.batch:
        raise ValueError(
            f"the table was measured at batch {table.batch}; give an example of that batch, not {example.shape[0]}"
        )
    timings = measure.interleaved(models, example, rounds=rounds)
    report = Report(environment=measure.environment())
    for name, model in models.items():
        predicted, t = table.predict(model, tuple(example.shape[1:])), timings[name]
        report.add(name, "latency_predicted", predicted, "ms", table.method, note=table.note)
        measure.add_timing(report, name, t)
        error = 100 * abs(predicted - t.p50) / t.p50
        report.add(name, "prediction_error", error, "%", "|predicted - measured p50| / measured p50", note=t.note)
    return report


# What follows reads a search space (``ll.nas_space``): the table of a space, the cost of each of its candidates,
# the table checked on candidates, and which task lets block candidates compete with the hand-made small model.


@functools.lru_cache(maxsize=8192)
def _piece(spec: tuple, shape: tuple[int, ...], batch: int) -> tuple[str, int, nn.Module]:
    """Return (table key, parameters, layer) of one deployed layer: built once, shared by every candidate."""
    layer = fold_batchnorm(make_layer(spec))
    return layer_key(layer, (batch, *shape)), measure.count_params(layer), layer


def latency_table(space: Space, task: Task, *, batch: int = 1, rounds: int | None = None) -> LatencyTable:
    """Return a LatencyTable measured on this machine for every deployed layer that ``space`` can put in a model."""
    layers: dict[str, tuple[nn.Module, torch.Tensor]] = {}
    for cand in candidates(space, task.input_shape):
        for spec, shape in cand.specs(task.input_shape, task.num_classes):
            key, _, layer = _piece(spec, shape, batch)
            if key not in layers:
                layers[key] = (layer, torch.zeros(batch, *shape))
    return measure_layers(layers, task.input_shape, batch, rounds)


def costs(space: Space, task: Task, table: LatencyTable) -> pd.DataFrame:
    """Return one row per candidate of ``space``: name, family, depth, head, hidden, predicted latency (ms) and
    parameters, both of the deployed model (BatchNorm folded)."""
    rows = []
    for cand in candidates(space, task.input_shape):
        pieces = [_piece(s, shape, table.batch) for s, shape in cand.specs(task.input_shape, task.num_classes)]
        rows.append(
            {
                "name": str(cand),
                "family": cand.family,
                "depth": cand.depth,
                "head": cand.head,
                "hidden": cand.hidden,
                "latency_ms": table.total(key for key, _, _ in pieces),
                "params": sum(p for _, p, _ in pieces),
            }
        )
    return pd.DataFrame(rows)


def check_table(space: Space, task: Task, table: LatencyTable, *, count: int = 8, rounds: int | None = None) -> Report:
    """Return ``check_predictions`` for ``count`` deployed candidates of ``space`` spread over its predicted
    latencies, from the fastest to the slowest: is the table fit to predict whole models?"""
    ranked = costs(space, task, table).sort_values("latency_ms", kind="stable").reset_index(drop=True)
    picks = ranked.iloc[np.linspace(0, len(ranked) - 1, count).round().astype(int)].drop_duplicates("name")
    by_name = {str(c): c for c in candidates(space, task.input_shape)}
    models = {name: fold_batchnorm(by_name[name].build(task.input_shape, task.num_classes)) for name in picks["name"]}
    return check_predictions(table, models, task.example(table.batch), rounds)


def competition(space: Space, tasks: Iterable[str], *, slack: float = 0.5, rounds: int | None = None) -> pd.DataFrame:
    """Return one row per task: its input, the predicted latency of its hand-made ``TASK-small``, the fastest
    candidate with blocks and their ratio, how many block candidates are within ``1 + slack`` of it, and what the
    test split can resolve (the minimal detectable difference at the small model's accuracy, in points)."""
    rows = []
    for name in tasks:
        task, small = loaders.load(name), zoo.pretrained(f"{name}-small")
        table = latency_table(space, task, rounds=rounds).add(small, task.input_shape, rounds=rounds)
        reference = table.predict(small, task.input_shape)
        blocks = costs(space, task, table).query("depth > 0")
        fastest = blocks.loc[blocks.latency_ms.idxmin()]
        n, accuracy = task.sizes()["test"], train.evaluate(small, task)
        rows.append(
            {
                "task": name,
                "input": "x".join(map(str, task.input_shape)),
                "small (ms)": reference,
                "fastest with blocks": fastest["name"],
                "its latency (ms)": fastest.latency_ms,
                "ratio": fastest.latency_ms / reference,
                f"within +{slack:.0%}": int((blocks.latency_ms <= (1 + slack) * reference).sum()),
                "block candidates": len(blocks),
                "test inputs": n,
                "small's accuracy (%)": 100 * accuracy,
                "detectable (points)": stats.minimal_detectable_difference(n, accuracy),
            }
        )
    return pd.DataFrame(rows).set_index("task")

"""Latency lookup table for hardware-aware NAS: what each layer adds to a model, measured on this machine.

``measure_table(models, input_shape)`` (``nas.latency_table(space, task)`` for a search space) times every
distinct layer, with its input shape, once: inside a one-layer model, minus an empty one, all of them in turns with
``ll.measure.interleaved`` (LightLab's one timing rule). ``LatencyTable.predict(model)`` adds the entries to the
cost of calling a model. The table knows nothing of fused operators, caches shared between layers, other batch
sizes, thread counts or machines: ``check_predictions`` times whole models the same way to check it before it is
trusted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from lightlab.measurement import measure
from lightlab.measurement.report import Report


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
        keys = [k for k, _ in _layers(model, (self.batch, *input_shape))]
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


def _layers(model: nn.Sequential, shape: tuple[int, ...]) -> list[tuple[str, torch.Tensor]]:
    """Return (key, input) for each top-level layer of ``model`` when fed zeros of ``shape``."""
    out, x = [], torch.zeros(shape)
    with torch.inference_mode():
        for layer in model.eval():
            out.append((f"{layer!r} @ {list(x.shape)}", x))
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
    entries, overhead, note = _measure(layers, torch.zeros(batch, *input_shape), rounds)
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

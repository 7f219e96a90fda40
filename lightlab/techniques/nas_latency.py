"""Latency lookup table for hardware-aware NAS: what each layer adds to a model, measured on this machine.

``measure_table(models, input_shape)`` (``nas.latency_table(space, task)`` for a search space) times every
distinct layer, with its input shape, once: inside a one-layer model, minus an empty one.
``LatencyTable.predict(model)`` adds the entries to the cost of calling a model. The table knows nothing of fused
operators, caches shared between layers, other batch sizes, thread counts or machines: check it against
whole-model timings (``ll.measure.interleaved``) before trusting it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lightlab import config
from lightlab.measurement import measure


@dataclass
class LatencyTable:
    """Measured p50 (ms) each layer adds to a model, keyed by layer and input shape, plus the model call."""

    entries: dict[str, float]
    overhead_ms: float
    batch: int
    threads: int
    cpu: str = field(default_factory=measure.cpu_model)

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
            self.entries |= _measure(missing, torch.zeros(self.batch, *input_shape), rounds)[0]
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
    models: Iterable[nn.Sequential],
    input_shape: tuple[int, ...],
    batch: int = 1,
    rounds: int | None = None,
    progress: bool = True,
) -> LatencyTable:
    """Return a LatencyTable measured on this machine for every distinct layer of ``models``."""
    layers: dict[str, tuple[nn.Module, torch.Tensor]] = {}
    for model in models:
        for (key, x), layer in zip(_layers(model, (batch, *input_shape)), model, strict=True):
            layers.setdefault(key, (layer, x))
    entries, overhead = _measure(layers, torch.zeros(batch, *input_shape), rounds, progress)
    return LatencyTable(entries, overhead, batch, torch.get_num_threads())


def _measure(
    layers: dict[str, tuple[nn.Module, torch.Tensor]],
    x0: torch.Tensor,
    rounds: int | None = None,
    progress: bool = False,
) -> tuple[dict[str, float], float]:
    """Return each layer's added latency (ms) inside a model, and the cost of calling an empty model.

    A layer is timed inside a one-layer Sequential, minus the empty Sequential: the difference is what the layer
    adds to a model, without counting the timing loop's own overhead once per layer.
    """
    rounds = int(rounds if rounds is not None else config.pick(5, 1))
    wrapped = {key: (nn.Sequential(layer), x) for key, (layer, x) in layers.items()}
    wrapped["model call"] = (nn.Sequential(), x0)  # an empty container: the cost of calling any model
    best = dict.fromkeys(wrapped, math.inf)
    repeats = {key: _repeats(layer, x) for key, (layer, x) in wrapped.items()}
    # Rounds over all layers (best p50 kept) so a burst of load from another program spoils one round, not a layer.
    for _ in tqdm(range(rounds), desc="latency table", disable=not progress, leave=False):
        for key, (layer, x) in wrapped.items():
            best[key] = min(best[key], measure.latency(layer, x, repeats=repeats[key]).p50)
    call = best.pop("model call")
    return {key: max(ms - call, 0.0) for key, ms in best.items()}, call


@torch.inference_mode()
def _repeats(layer: nn.Module, x: torch.Tensor, seconds: float = 0.05) -> int:
    """Return how many timed calls fit in ``seconds`` (20 to 200; 10 to 30 in quick mode): slow layers get fewer."""
    layer.eval()(x)
    start = time.perf_counter()
    layer(x)
    return int(np.clip(seconds / max(time.perf_counter() - start, 1e-7), config.pick(20, 10), config.pick(200, 30)))

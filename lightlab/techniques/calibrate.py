"""Calibration: which range [lo, hi] of an activation should the 256 int8 codes cover?

Static int8 fixes every activation's range before deployment, from activations observed on real calibration inputs.
The range is a trade: a wide one keeps rare large values (no clipping) but makes every step of the grid coarse;
a narrow one rounds the crowd finely and clips the outliers. Three ways to choose, each a short function:

- ``minmax_range``: the smallest and largest value seen. Nothing is clipped; one outlier sets the step for all.
- ``percentile_range``: drop the rarest ``100 - percent`` % at each end (99.99 % keeps all but 1 in 10,000).
- ``entropy_range``: TensorRT's search (Migacz 2017): among clipping thresholds, keep the one whose quantized
  histogram loses the least information, measured as the KL divergence from the unclipped histogram.

``observe(model, inputs, points)`` records the activations at the named modules' outputs, to feed these.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

PERCENTILE = 99.99
HISTOGRAM_BINS = 2048  # TensorRT's choice: fine enough that the best threshold sits within 0.05 % of the max


def _values(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Return ``x`` flattened as float64 numpy, refusing what no range can be read from."""
    values = np.asarray(x.detach() if isinstance(x, torch.Tensor) else x, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no activation values to calibrate on: pass at least one real input")
    if not np.isfinite(values).all():
        raise ValueError("the activations hold NaN or inf: check the calibration inputs and the model")
    return values


def minmax_range(x: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """Return (smallest, largest) value of ``x``: no clipping at all."""
    values = _values(x)
    return float(values.min()), float(values.max())


def percentile_range(x: torch.Tensor | np.ndarray, percent: float = PERCENTILE) -> tuple[float, float]:
    """Return the (100 - percent)-th and percent-th percentiles of ``x``: the rarest tails are clipped."""
    if not 50 < percent <= 100:
        raise ValueError(f"percent must be in (50, 100], such as 99.99, got {percent}")
    lo, hi = np.percentile(_values(x), [100 - percent, percent])
    return float(lo), float(hi)


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Return KL(p || q) in nats for two histograms (normalized here); bins where p is 0 add nothing."""
    p, q = p / p.sum(), q / max(q.sum(), 1e-30)
    where = p > 0
    # A bin p has and q lacks would make KL infinite; a tiny floor ranks such a threshold last instead.
    return float(np.sum(p[where] * np.log(p[where] / np.maximum(q[where], 1e-12))))


def _quantized_histogram(hist: np.ndarray, levels: int) -> np.ndarray:
    """Return ``hist`` merged into ``levels`` equal groups of bins, each group's count spread back over its bins
    that were non-empty (empty bins stay empty): what the histogram looks like after rounding to ``levels`` codes."""
    size, extra = divmod(len(hist), levels)  # as np.array_split: the first `extra` groups hold one bin more
    group = np.repeat(np.arange(levels), [size + 1] * extra + [size] * (levels - extra))  # each bin's code
    filled = hist > 0
    totals = np.bincount(group, weights=hist, minlength=levels)
    counts = np.bincount(group, weights=filled, minlength=levels)
    return np.where(filled, totals[group] / np.maximum(counts[group], 1), 0.0)


def entropy_range(x: torch.Tensor | np.ndarray, bits: int = 8, bins: int = HISTOGRAM_BINS) -> tuple[float, float]:
    """Return the clipping range whose ``bits``-bit histogram is closest (least KL divergence) to the unclipped one.

    TensorRT's search on |x|: for each candidate threshold (a bin edge), clip the histogram there (the outliers
    pile into the last bin), quantize it to the available levels, and measure the information lost. Non-negative
    data (after a ReLU) gets [0, T] and all ``2**bits`` levels; signed data gets [-T, T] and half of them each side.
    """
    values = _values(x)
    signed = values.min() < 0
    levels = 2 ** (bits - 1) if signed else 2**bits
    magnitudes = np.abs(values)
    top = magnitudes.max()
    if top == 0:
        return 0.0, 0.0
    hist, edges = np.histogram(magnitudes, bins=bins, range=(0, top))
    hist = hist.astype(np.float64)
    # The exact zeros a ReLU leaves (often half the values) are code zero_point exactly, whatever the range; as a
    # spike in bin 0 they would swamp the divergence and drag the threshold to near 0 at low bit widths. NVIDIA's
    # implementation (pytorch-quantization) flattens that bin the same way.
    hist[0] = hist[1]
    best, best_kl = bins, np.inf
    for i in range(levels, bins + 1):
        reference = hist[:i].copy()
        reference[-1] += hist[i:].sum()  # clipping: everything beyond the threshold lands in the last bin
        kl = kl_divergence(reference, _quantized_histogram(hist[:i], levels))
        if kl <= best_kl:  # on a tie keep the wider range (NVIDIA's rule): clipping is the error KL cannot see
            best, best_kl = i, kl
    threshold = float(edges[best])
    return (-threshold if signed else 0.0), threshold


METHODS: dict[str, Callable[..., tuple[float, float]]] = {
    "minmax": minmax_range,
    "percentile": percentile_range,
    "entropy": entropy_range,
}


def activation_range(x: torch.Tensor | np.ndarray, method: str = "minmax", **options) -> tuple[float, float]:
    """Return the range ``method`` ('minmax', 'percentile' or 'entropy') picks for the activations ``x``."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}: choose one of {', '.join(METHODS)}")
    return METHODS[method](x, **options)


@torch.inference_mode()
def observe(model: nn.Module, inputs: torch.Tensor, points: list[str], batch: int = 256) -> dict[str, torch.Tensor]:
    """Return the outputs of the modules named in ``points`` (``''``: the model's input) over ``inputs``."""
    modules = dict(model.named_modules())
    missing = [p for p in points if p and p not in modules]
    if missing:
        raise ValueError(f"no module named {missing} in the model; names are those of model.named_modules()")
    seen: dict[str, list[torch.Tensor]] = {p: [] for p in points}
    hooks = [
        modules[p].register_forward_hook(lambda _m, _i, out, p=p: seen[p].append(out.detach().clone()))
        for p in points
        if p
    ]
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(inputs), batch):
            chunk = inputs[start : start + batch]
            if "" in seen:
                seen[""].append(chunk)
            model(chunk)
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {p: torch.cat(v) for p, v in seen.items()}

"""Numbers a student can read: metric names in words and values in human units (ms or µs, kB or MB, µJ or mJ, %).

``readable("latency_p50_b64")`` gives "latency p50, batch 64"; ``human(0.0136, "ms")`` gives "13.6 µs". Three
significant digits everywhere, so a small number never rounds to "0.0".
"""

from __future__ import annotations

import math
import re

# Metric names as the rows store them, and how a table or an axis should say them.
_NAMES = {
    "params": "parameters",
    "size": "size on disk",
    "macs": "MACs per sample",
    "peak_memory": "peak memory",
    "compute_s_per_million": "CPU-seconds per million inferences",
    "energy_per_inference": "energy per inference (estimated, CodeCarbon)",
    "energy_above_idle_per_inference": "energy above idle per inference (estimated)",
    "energy_modelled_per_inference": "energy per inference (modelled)",
    "co2e_per_inference": "CO2e per inference",
    "latency_per_sample": "latency per sample",
    "speedup": "speed-up",
    "nonzero_params": "non-zero parameters",
}
_PATTERNS = [
    (re.compile(r"^latency_p(\d+)_b(\d+)$"), r"latency p\1, batch \2"),
    (re.compile(r"^latency_p(\d+)$"), r"latency p\1"),
    (re.compile(r"^throughput_b(\d+)$"), r"throughput, batch \1"),
]
# Unit -> ladder of (factor, shown unit), largest first; the first step the value reaches is used.
_LADDERS = {
    "ms": [(1e3, "s"), (1.0, "ms"), (1e-3, "µs"), (1e-6, "ns")],
    "s": [(1.0, "s"), (1e-3, "ms"), (1e-6, "µs")],
    "bytes": [(1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "B")],
    "J": [(1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")],
    "g CO2e": [(1.0, "g"), (1e-3, "mg"), (1e-6, "µg"), (1e-9, "ng")],
}


def readable(metric: str) -> str:
    """Return ``metric`` in words: 'latency_p50_b1' -> 'latency p50, batch 1'."""
    if metric in _NAMES:
        return _NAMES[metric]
    for pattern, words in _PATTERNS:
        if pattern.match(metric):
            return pattern.sub(words, metric)
    return metric.replace("_", " ")


def _digits(value: float) -> str:
    """Return ``value`` with three significant digits and thousands separators, never in e-notation."""
    if value == 0:
        return "0"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def human(value: float | None, unit: str) -> str:
    """Return ``value`` in ``unit`` as a person would write it: '13.6 µs', '4.52 MB', '98.3 %', '1,128,714'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if math.isinf(value):
        return "∞"
    if unit in _LADDERS:
        factor, shown = next(((f, u) for f, u in _LADDERS[unit] if abs(value) >= f), _LADDERS[unit][-1])
        return f"{_digits(value / factor)} {shown}"
    if unit in ("count", "MACs"):
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "x":
        return f"{_digits(value)}×"
    if unit == "samples/s":
        return f"{_digits(value)}/s"
    return f"{_digits(value)} {unit}".rstrip()

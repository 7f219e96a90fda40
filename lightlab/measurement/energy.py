"""Energy per inference: CodeCarbon's reading, a first-principles model, and the CO2e it implies.

Without a power meter (no RAPL) CodeCarbon *estimates* power from the CPU load, a TDP and a
constant for RAM, so its energy is roughly latency x constant power. Every row therefore names
how its number was obtained (``method``): an unlabelled joule would mislead. The CodeCarbon
plumbing lives in ``meter.py``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from lightlab import config
from lightlab.measurement.meter import (
    FOREIGN_LOAD_LIMIT,
    IDLE_NAP_S,
    EnergyUnavailable,
    codecarbon,
    measure_window,
    probe,
)

# Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: joules per operation.
FP32_MULT_J, FP32_ADD_J = 3.7e-12, 0.9e-12
INT8_MULT_J, INT8_ADD_J = 0.2e-12, 0.03e-12
DRAM_J_PER_WORD = 640e-12  # one 32-bit word read from DRAM
_PRECISIONS = {"fp32": (FP32_MULT_J + FP32_ADD_J, 4), "int8": (INT8_MULT_J + INT8_ADD_J, 1)}


def _intensity(country: str) -> tuple[float, int]:
    """Return (g CO2e per kWh, year of the data) from CodeCarbon's offline grid table."""
    mix = codecarbon().input.DataSource().get_global_energy_mix_data()
    if country not in mix:
        raise ValueError(
            f"unknown country {country!r}: use an ISO 3166 alpha-3 code such as FRA, USA, "
            f"IND or NOR (lightlab.energy.countries() lists all {len(mix)})"
        )
    return mix[country]["carbon_intensity"], mix[country].get("year", 2023)


def countries() -> list[str]:
    """Return the ISO3 country codes whose grid carbon intensity is available offline."""
    return sorted(codecarbon().input.DataSource().get_global_energy_mix_data())


def co2e_grams(joules: float, country: str) -> float:
    """Return the grams of CO2e that `joules` of electricity cost on `country`'s grid."""
    return joules / 3.6e6 * _intensity(country)[0]


def _check_example(example: torch.Tensor | None) -> None:
    if example is not None and (example.ndim == 0 or bool(torch.isnan(example).any())):
        raise ValueError(
            "example must be a batch without NaN (first dimension = batch size), e.g. torch.rand(64, 1, 8, 8)"
        )


def _as_callable(model: object, example: torch.Tensor | None) -> tuple[Callable[[], object], int]:
    """Return (a no-argument function running one batch, samples per call)."""
    if isinstance(model, torch.nn.Module):
        if example is None:
            raise ValueError("example is required for nn.Module models: pass a batch, e.g. torch.rand(64, 8)")
        model.eval()
        return (lambda: model(example)), example.shape[0]
    if not callable(model):
        raise ValueError(f"models values must be nn.Module or callables, got {type(model).__name__}")
    return model, 1


def _row(model: str, metric: str, values: list[float], unit: str, method: str, note: str = "") -> dict:
    """One row: the median over windows, with half the min-max range as spread."""
    row = {
        "model": model,
        "metric": metric,
        "value": statistics.median(values),
        "unit": unit,
        "method": method,
        "spread": (max(values) - min(values)) / 2,
    }
    return {**row, "note": note} if note else row


def _disturbance(windows: list[dict]) -> str:
    """A note when other processes used more than FOREIGN_LOAD_LIMIT cores in some window, else ''."""
    load = max(w["foreign_cores"] for w in windows)
    return f"disturbed by other processes' load ({load:.2f} cores)" if load > FOREIGN_LOAD_LIMIT else ""


def measure_energy(
    models: dict[str, Callable[[], object]] | dict[str, torch.nn.Module],
    example: torch.Tensor | None = None,
    window_s: float | None = None,
    repeats: int | None = None,
    country: str = "FRA",
    idle: bool = True,
    progress: bool = True,
) -> list[dict]:
    """Measure energy and CO2e per inference of each model with CodeCarbon; every row names its method."""
    window_s = config.pick(3.0, 0.6) if window_s is None else window_s
    repeats = config.pick(3, 2) if repeats is None else repeats
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0 seconds (got {window_s}): pass e.g. window_s=3.0")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1 (got {repeats}): pass e.g. repeats=3")
    if not models:
        raise ValueError("models is empty: pass a dict of name -> model, e.g. {'mlp': model}")
    _check_example(example)
    grams_per_kwh, year = _intensity(country)
    runs = {name: _as_callable(model, example) for name, model in models.items()}
    if idle:  # sleeping shows what the machine draws doing nothing, with the very same settings
        runs[None] = ((lambda: time.sleep(IDLE_NAP_S)), 1)
    windows: dict[str | None, list[dict]] = {name: [] for name in runs}
    try:
        label = probe()
        with torch.inference_mode():
            for fn, _ in runs.values():
                fn()  # the first call allocates memory: keep it out of the windows
        with tqdm(total=repeats * len(runs), desc="energy windows", disable=not progress) as bar:
            for _ in range(repeats):  # A B A B ...: slow drifts of the machine hit every model alike
                for name, (fn, batch) in runs.items():
                    windows[name].append({**measure_window(fn, window_s, country), "batch": batch})
                    bar.update()
    except EnergyUnavailable as exc:
        return _unavailable(list(models), idle, f"unavailable: {exc}")

    how = f"{label}, median of {repeats} windows >= {window_s:g} s"
    naps = windows.pop(None, [])
    idle_watts = [w["joules"] / w["seconds"] for w in naps]
    p_idle = statistics.median(idle_watts) if idle_watts else 0.0
    rows = []
    for name, series in windows.items():
        note = _disturbance(series)
        total = [w["joules"] / (w["calls"] * w["batch"]) for w in series]
        rows.append(_row(name, "energy_per_inference", total, "J", how, note))
        if idle:
            above = [(w["joules"] - p_idle * w["seconds"]) / (w["calls"] * w["batch"]) for w in series]
            above_how = f"{how}, above idle ({p_idle:.1f} W x time subtracted)"
            rows.append(
                _row(name, "energy_above_idle_per_inference", above, "J", above_how, _disturbance(series + naps))
            )  # a disturbed idle baseline skews it too
        grams = [co2e_grams(j, country) for j in total]
        rows.append(
            _row(
                name,
                "co2e_per_inference",
                grams,
                "g CO2e",
                f"{how}; x {country} grid {grams_per_kwh:g} g/kWh (CodeCarbon offline grid data {year})",
                note,
            )
        )
    if idle:
        rows.append(_row("idle", "idle_power", idle_watts, "W", f"{how}, sleeping", _disturbance(naps)))
    return rows


def _unavailable(names: list[str], idle: bool, why: str) -> list[dict]:
    """Rows of NaN that say why: a failed measurement must never look like a number."""
    above = [("energy_above_idle_per_inference", "J")] if idle else []
    metrics = [("energy_per_inference", "J"), *above, ("co2e_per_inference", "g CO2e")]
    rows = [_row(name, metric, [math.nan], unit, why) for name in names for metric, unit in metrics]
    return rows + ([_row("idle", "idle_power", [math.nan], "W", why)] if idle else [])


def modelled_energy(
    model: torch.nn.Module, example: torch.Tensor, precision: str = "fp32", name: str | None = None
) -> dict:
    """Model the energy of one inference from MACs and DRAM traffic with Horowitz's 45 nm figures."""
    from torch.utils.flop_counter import FlopCounterMode

    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(_PRECISIONS)}, got {precision!r}")
    _check_example(example)
    mac_j, nbytes = _PRECISIONS[precision]
    activations = []

    def count(module, inputs, output) -> None:
        tensors = [*inputs, output] if isinstance(output, torch.Tensor) else [*inputs, *output]
        activations.append(sum(t.numel() for t in tensors if isinstance(t, torch.Tensor)))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        model.eval()
        with torch.inference_mode(), FlopCounterMode(display=False) as flops:
            model(example[:1])  # batch 1: energy per sample
    finally:
        for handle in handles:
            handle.remove()
    # ONNX Runtime runs outside PyTorch's counter: such a model counts its own MACs (from its source or its graph).
    own = model.count_macs(example[:1]) if callable(getattr(model, "count_macs", None)) else None
    macs = own or getattr(model, "macs_per_sample", None) or flops.get_total_flops() / 2
    # Each weight read once from DRAM; each leaf's input and output written/read once, all at `precision`.
    words = (sum(p.numel() for p in model.parameters()) + sum(activations)) * nbytes / 4
    compute_j, memory_j = macs * mac_j, words * DRAM_J_PER_WORD
    total = compute_j + memory_j
    note = f"{precision}: compute {compute_j / total:.0%}, DRAM traffic {memory_j / total:.0%}"
    return {
        "model": name or type(model).__name__,
        "metric": "energy_modelled_per_inference",
        "value": total,
        "unit": "J",
        "method": "modelled (Horowitz 2014 45 nm: MACs and DRAM traffic)",
        "note": note,
        "precision": precision,
        "macs": macs,
        "dram_words": words,
        "compute_j": compute_j,
        "memory_j": memory_j,
    }

"""Energy per inference: CodeCarbon's reading, a first-principles model, and the CO2e it implies.

Without a power meter (no RAPL) CodeCarbon *estimates* power from the CPU load, a TDP and a
constant for RAM, so its energy is roughly latency x constant power. Every row therefore names
how its number was obtained (``method``): an unlabelled joule would mislead. The CodeCarbon
plumbing lives in ``meter.py``; the per-operation and per-access energies of each device class
(server, phone, microcontroller) and their sources in ``profiles.py``.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch
from tqdm.auto import tqdm

from lightlab import config
from lightlab.measurement import profiles
from lightlab.measurement.meter import (
    FOREIGN_LOAD_LIMIT,
    IDLE_NAP_S,
    EnergyUnavailable,
    codecarbon,
    measure_window,
    probe,
)

if TYPE_CHECKING:
    from lightlab.measurement.report import Report

BYTES = {"fp32": 4, "int8": 1}
MODELLED = "energy_modelled_per_inference"


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
    model: torch.nn.Module,
    example: torch.Tensor,
    precision: str = "fp32",
    name: str | None = None,
    profile: str | profiles.Profile = "server",
) -> dict:
    """Model the energy of one inference from MACs and memory traffic, priced with a device ``profile``'s figures.

    ``profile``: "server" (DRAM, Horowitz 2014; the default), "phone" (NPU + LPDDR4), "mcu" (flash and SRAM, no
    DRAM), or your own ``profiles.Profile``. The row's method says which: "modelled (PROFILE, SOURCE)".
    """
    from torch.utils.flop_counter import FlopCounterMode

    device = profiles.lookup(profile)
    if precision not in BYTES:
        raise ValueError(f"precision must be one of {sorted(BYTES)}, got {precision!r}")
    mac_j, nbytes = device.per_mac(precision), BYTES[precision]
    _check_example(example)
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
    # Each weight read once from where it is stored; each leaf's input and output written/read once; all at
    # `precision`, in 32-bit words.
    weight_words = sum(p.numel() for p in model.parameters()) * nbytes / 4
    activation_words = sum(activations) * nbytes / 4
    compute_j = macs * mac_j
    weight_j = weight_words * device.weight_j_per_word
    activation_j = activation_words * device.activation_j_per_word
    total = compute_j + weight_j + activation_j
    shares = (
        f"compute {compute_j / total:.0%}, weights from {device.weight_memory} {weight_j / total:.0%}, "
        f"activations in {device.activation_memory} {activation_j / total:.0%}"
    )
    return {
        "model": name or type(model).__name__,
        "metric": MODELLED,
        "value": total,
        "unit": "J",
        "method": device.label,
        "note": f"{precision}: {shares}",
        "precision": precision,
        "profile": device.name,
        "macs": macs,
        "weight_words": weight_words,
        "activation_words": activation_words,
        "compute_j": compute_j,
        "weight_j": weight_j,
        "activation_j": activation_j,
        "memory_j": weight_j + activation_j,
    }


def reprice_(
    report: Report, models: Mapping[str, torch.nn.Module], example: torch.Tensor, profile: str | profiles.Profile
) -> Report:
    """Replace, in place, ``report``'s modelled-energy rows of ``models`` by rows priced on ``profile``; return it.

    ``ll.measure.measure`` models energy on the server profile; a case study about a phone or a microcontroller
    prices the same models on its own device class.
    """
    device = profiles.lookup(profile)
    report.rows = [r for r in report.rows if not (r["metric"] == MODELLED and r["model"] in models)]
    report.extend(
        modelled_energy(m, example, getattr(m, "precision", "fp32"), name, device) for name, m in models.items()
    )
    return report

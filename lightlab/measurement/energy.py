"""Energy per inference: CodeCarbon's reading, a first-principles model, and the CO2e it implies.

Without a power meter (no RAPL) CodeCarbon *estimates* power from the CPU load, a TDP and a
constant for RAM, so its energy is roughly latency x constant power. Every row therefore names
how its number was obtained (``method``): an unlabelled joule would mislead.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable

import psutil
import torch
from tqdm.auto import tqdm

from lightlab import config

FOREIGN_LOAD_LIMIT = 0.3  # cores used by other processes before a window counts as disturbed
MAX_DOUBLINGS = 4  # how often a window that read <= 0 J is doubled before giving up
IDLE_NAP_S = 0.05

# Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: joules per operation.
FP32_MULT_J, FP32_ADD_J = 3.7e-12, 0.9e-12
INT8_MULT_J, INT8_ADD_J = 0.2e-12, 0.03e-12
DRAM_J_PER_WORD = 640e-12  # one 32-bit word read from DRAM
_PRECISIONS = {"fp32": (FP32_MULT_J + FP32_ADD_J, 4), "int8": (INT8_MULT_J + INT8_ADD_J, 1)}
_METERS = {"intel_rapl": "RAPL", "intel_power_gadget": "Intel Power Gadget", "windows_emi": "Windows EMI"}

_TRACKER_LOCK = threading.Lock()  # one CodeCarbon tracker at a time, or their readings overlap
_method: str | None = None


class EnergyUnavailable(RuntimeError):
    """CodeCarbon could not give a reading; the message says why."""


def has_power_meter() -> bool:
    """Return True when a RAPL energy counter is readable (no CodeCarbon needed)."""
    return any(os.access(path, os.R_OK) for path in glob.glob("/sys/class/powercap/intel-rapl*/energy_uj"))


def expected_method() -> str:
    """Return the method label this machine will most likely get, without starting CodeCarbon."""
    import importlib.util

    if importlib.util.find_spec("codecarbon") is None:
        return "unavailable: codecarbon is not installed"
    if _method is not None:
        return _method
    return "measured (RAPL via CodeCarbon)" if has_power_meter() else "estimated (CodeCarbon cpu_load)"


def method() -> str:
    """Return how energy is obtained here, read from the hardware CodeCarbon actually uses."""
    try:
        return _probe()
    except EnergyUnavailable as exc:
        return f"unavailable: {exc}"


def _probe() -> str:
    # The first start() probes the hardware (~1.5 s): a throwaway run keeps it out of the windows.
    global _method
    if _method is None:
        with _TRACKER_LOCK:
            tracker = _start_tracker("FRA")
            _stop(tracker)
        try:
            _method = _label(tracker)
        except Exception:  # private attributes of another CodeCarbon version: stay on the safe side
            _method = "estimated (CodeCarbon; its hardware could not be read)"
    return _method


def _label(tracker) -> str:
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE
    from codecarbon.core.util import count_cpus

    parts = {type(part).__name__: part for part in tracker._hardware}
    cpu, ram = parts.get("CPU"), parts.get("RAM")
    ram_text = f"RAM constant {ram.total_power().W:.0f} W" if ram is not None else "RAM not counted"
    mode = getattr(cpu, "_mode", None)
    if mode in _METERS or "AppleSiliconChip" in parts:
        return f"measured ({_METERS.get(mode, 'powermetrics')} via CodeCarbon; {ram_text})"
    if cpu is None:
        return f"estimated (CodeCarbon without a CPU model; {ram_text})"
    fallback = cpu._tdp == DEFAULT_POWER_PER_CORE * count_cpus()  # CPU not in its table: 4 W per thread
    tdp = f"{cpu._tdp} W " + ("generic TDP" if cpu._is_generic_tdp else "TDP fallback" if fallback else "TDP")
    scope = "whole machine" if cpu._tracking_mode == "machine" else "this process"
    return f"estimated (CodeCarbon {mode}, {scope}, {tdp}; {ram_text})"


def _codecarbon():
    """Import CodeCarbon only when needed, quiet: its log_level argument applies too late, this does not."""
    os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
    import codecarbon
    import codecarbon.input
    import codecarbon.lock

    return codecarbon


def _new_tracker(country: str):
    # With allow_multiple_runs=False CodeCarbon's lock swaps Ctrl-C for SystemExit: put it back.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    tracker = _codecarbon().OfflineEmissionsTracker(
        country_iso_code=country,
        output_methods=[],
        log_level="error",
        measure_power_secs=3600,
        tracking_mode="machine",
    )
    for sig, handler in saved.items():
        if handler is not None and threading.current_thread() is threading.main_thread():
            signal.signal(sig, handler)
    return tracker


def _lock_owner_alive(path: str) -> bool:
    # CodeCarbon's lock file is empty; ours carry the PID, so a crashed kernel's lock can be told apart.
    try:
        with open(path) as file:
            pid = int(file.read().strip() or 0)
    except FileNotFoundError:
        return False  # gone meanwhile: nobody holds it
    except (OSError, ValueError):
        pid = 0
    if pid == os.getpid():  # we hold _TRACKER_LOCK, so it is a leftover of ours
        return False
    if pid:
        return psutil.pid_exists(pid)
    return os.path.getmtime(path) > psutil.boot_time()  # unknown owner: only a pre-boot lock is surely dead


def _start_tracker(country: str):
    """Create and start a tracker, removing a stale lock file once; raise EnergyUnavailable on failure."""
    try:
        lock = _codecarbon().lock
        tracker = _new_tracker(country)
        if getattr(tracker, "_another_instance_already_running", False):
            if _lock_owner_alive(lock.LOCKFILE):
                raise EnergyUnavailable(
                    f"another CodeCarbon run holds {lock.LOCKFILE}; stop it, or delete the file if none runs"
                )
            with contextlib.suppress(FileNotFoundError):
                os.remove(lock.LOCKFILE)  # stale: left by a crashed kernel
            tracker = _new_tracker(country)
        if getattr(tracker, "_lock", None) is not None and tracker._lock._has_created_lock:
            with open(lock.LOCKFILE, "w") as file:
                file.write(str(os.getpid()))
        tracker.start()  # CodeCarbon swallows its own errors here: check the result instead
    except EnergyUnavailable:
        raise
    except Exception as exc:
        raise EnergyUnavailable(f"{type(exc).__name__}: {exc}") from exc
    if getattr(tracker, "_start_time", None) is None:
        raise EnergyUnavailable("CodeCarbon did not start (set CODECARBON_LOG_LEVEL=warning to see why)")
    return tracker


def _stop(tracker) -> None:
    tracker.stop()
    if getattr(tracker, "_lock", None) is not None:
        # CodeCarbon forgets it released its lock file: its atexit hook would delete a later run's lock.
        tracker._lock._has_created_lock = False


def cpu_seconds() -> tuple[float, float]:
    """Return (busy CPU seconds of the whole machine, CPU seconds of this process)."""
    t = psutil.cpu_times()
    busy = sum(t) - t.idle - getattr(t, "iowait", 0) - getattr(t, "guest", 0) - getattr(t, "guest_nice", 0)
    own = psutil.Process().cpu_times()
    return busy, own.user + own.system


def foreign_cores(busy: float, own: float, seconds: float) -> float:
    """Return the cores other processes used in a window of ``seconds``, from its busy and own CPU-second deltas.

    The kernel counts CPU time in ticks (1/CLK_TCK s) per core, so each delta is uncertain by a tick per core plus
    one for this process: that much is not load. Without this, one tick in a 1 ms timing window reads as 10 cores.
    """
    tick = 1 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
    resolution = ((os.cpu_count() or 1) + 1) * tick
    return max(0.0, busy - own - resolution) / max(seconds, 1e-9)


def _tracked_loop(fn: Callable[[], object], seconds: float, country: str) -> dict:
    """Run fn in a loop for at least `seconds` under one tracker; return joules, seconds, calls, load."""
    with _TRACKER_LOCK:
        tracker = _start_tracker(country)
        busy0, own0 = cpu_seconds()
        calls, start = 0, time.perf_counter()
        try:
            with torch.inference_mode():
                while calls == 0 or time.perf_counter() - start < seconds:
                    fn()
                    calls += 1
        finally:
            _stop(tracker)  # always, or the next tracker's reading overlaps this one
        busy1, own1 = cpu_seconds()
    data = getattr(tracker, "final_emissions_data", None)
    if data is None:
        raise EnergyUnavailable("CodeCarbon's stop() failed silently (set CODECARBON_LOG_LEVEL=warning)")
    foreign = foreign_cores(busy1 - busy0, own1 - own0, data.duration)
    return {"joules": data.energy_consumed * 3.6e6, "seconds": data.duration, "calls": calls, "foreign_cores": foreign}


def _positive_window(fn: Callable[[], object], seconds: float, country: str) -> dict:
    """One window, doubled while CodeCarbon reads <= 0 J (too short to register): never report 0 J."""
    for _ in range(MAX_DOUBLINGS + 1):
        window = _tracked_loop(fn, seconds, country)
        if window["joules"] > 0 and math.isfinite(window["joules"]):
            return window
        seconds *= 2
    raise EnergyUnavailable(f"CodeCarbon read {window['joules']} J even over {seconds / 2:g} s")


def _measure_window(fn: Callable[[], object], seconds: float, country: str) -> dict:
    """One window, retried once if other processes loaded the CPU (machine mode counts their power too)."""
    window = _positive_window(fn, seconds, country)
    if window["foreign_cores"] > FOREIGN_LOAD_LIMIT:
        window = _positive_window(fn, seconds, country)  # still disturbed: kept, and the row says so
    return window


def _intensity(country: str) -> tuple[float, int]:
    """Return (g CO2e per kWh, year of the data) from CodeCarbon's offline grid table."""
    mix = _codecarbon().input.DataSource().get_global_energy_mix_data()
    if country not in mix:
        raise ValueError(
            f"unknown country {country!r}: use an ISO 3166 alpha-3 code such as FRA, USA, "
            f"IND or NOR (lightlab.energy.countries() lists all {len(mix)})"
        )
    return mix[country]["carbon_intensity"], mix[country].get("year", 2023)


def countries() -> list[str]:
    """Return the ISO3 country codes whose grid carbon intensity is available offline."""
    return sorted(_codecarbon().input.DataSource().get_global_energy_mix_data())


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
        label = _probe()
        with torch.inference_mode():
            for fn, _ in runs.values():
                fn()  # the first call allocates memory: keep it out of the windows
        with tqdm(total=repeats * len(runs), desc="energy windows", disable=not progress) as bar:
            for _ in range(repeats):  # A B A B ...: slow drifts of the machine hit every model alike
                for name, (fn, batch) in runs.items():
                    windows[name].append({**_measure_window(fn, window_s, country), "batch": batch})
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
    # ONNX Runtime runs outside PyTorch's counter: such wrappers carry the MACs counted on their source model.
    macs = getattr(model, "macs_per_sample", None) or flops.get_total_flops() / 2
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

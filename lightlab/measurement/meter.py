"""The CodeCarbon plumbing behind ``ll.energy``, and the CPU-load meter behind every "disturbed" flag.

One CodeCarbon tracker runs at a time (across processes too), its method label is read from the tracker itself,
and a timed window is repeated until it reads a positive energy. ``cpu_seconds`` and ``foreign_cores`` tell how
much CPU other processes used while something was timed.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import psutil
import torch

FOREIGN_LOAD_LIMIT = 0.3  # cores used by other processes before a window counts as disturbed
SPREAD_LIMIT = 0.3  # a timing's IQR above 30 % of its median: the runs disagree too much for one number
MAX_DOUBLINGS = 4  # how often a window that read <= 0 J is doubled before giving up
IDLE_NAP_S = 0.05

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
        return probe()
    except EnergyUnavailable as exc:
        return f"unavailable: {exc}"


def probe() -> str:
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


def codecarbon():
    """Import CodeCarbon only when needed, quiet: its log_level argument applies too late, this does not."""
    os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
    import codecarbon
    import codecarbon.input
    import codecarbon.lock

    return codecarbon


def _new_tracker(country: str):
    # With allow_multiple_runs=False CodeCarbon's lock swaps Ctrl-C for SystemExit: put it back.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    tracker = codecarbon().OfflineEmissionsTracker(
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
        lock = codecarbon().lock
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


def measure_window(fn: Callable[[], object], seconds: float, country: str) -> dict:
    """One window, retried once if other processes loaded the CPU (machine mode counts their power too)."""
    window = _positive_window(fn, seconds, country)
    if window["foreign_cores"] > FOREIGN_LOAD_LIMIT:
        window = _positive_window(fn, seconds, country)  # still disturbed: kept, and the row says so
    return window


@contextlib.contextmanager
def tracked(country: str = "FRA") -> Iterator[dict]:
    """Track the energy of a block of work (training, a search) under one CodeCarbon tracker.

    The dict it yields is filled on exit with ``joules``, ``seconds``, ``foreign_cores``, ``method`` and ``note``
    (a "disturbed" warning when other processes loaded the CPU, whose power the whole-machine reading includes).
    No other energy measurement may run inside the block: one tracker at a time.
    """
    result: dict = {}
    with _TRACKER_LOCK:
        tracker = _start_tracker(country)
        busy0, own0 = cpu_seconds()
        try:
            yield result
        finally:
            _stop(tracker)
        busy1, own1 = cpu_seconds()
    data = getattr(tracker, "final_emissions_data", None)
    if data is None:
        raise EnergyUnavailable("CodeCarbon's stop() failed silently (set CODECARBON_LOG_LEVEL=warning)")
    foreign = foreign_cores(busy1 - busy0, own1 - own0, data.duration)
    disturbed = f"disturbed: other processes used {foreign:.1f} cores; rerun on a quiet machine"
    result.update(
        joules=data.energy_consumed * 3.6e6,
        seconds=data.duration,
        foreign_cores=foreign,
        method=_label(tracker),
        note=disturbed if foreign > FOREIGN_LOAD_LIMIT else None,
    )

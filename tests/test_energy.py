"""Tests of ll.energy against the real CodeCarbon (short windows keep them fast)."""

from __future__ import annotations

import gc
import math
import os
import signal
import subprocess
import sys
import time

import codecarbon
import codecarbon.input
import codecarbon.lock
import pytest
import torch
from _codecarbon import tracker_class

from lightlab.measurement import energy, meter

KEYS = {"model", "metric", "value", "unit", "method"}
EXAMPLE = torch.rand(64, 1, 8, 8)


def big_model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 512), torch.nn.ReLU(),
        torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10),
    )  # fmt: skip


def tiny_model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))


def find(rows: list[dict], model: str, metric: str) -> dict:
    return next(r for r in rows if r["model"] == model and r["metric"] == metric)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """One real measurement of both models, run in an empty folder."""
    folder = tmp_path_factory.mktemp("energy")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        rows = energy.measure_energy(
            {"big": big_model(), "tiny": tiny_model()}, EXAMPLE, window_s=0.3, repeats=2, progress=False
        )
    return rows, folder


def test_rows_are_labelled_positive_and_finite(measured):
    rows, _ = measured
    assert len(rows) == 2 * 3 + 1
    for row in rows:
        assert KEYS <= row.keys()
        assert row["method"] and ("estimated" in row["method"] or "measured" in row["method"])
        assert math.isfinite(row["value"]), row
        # Above idle can dip below zero only when other processes' load skewed the idle window.
        assert row["value"] > 0 or ("above idle" in row["method"] and "note" in row), row
        assert math.isfinite(row["spread"]) and row["spread"] >= 0
    assert find(rows, "idle", "idle_power")["unit"] == "W"
    assert "above idle" in find(rows, "big", "energy_above_idle_per_inference")["method"]


def test_big_model_costs_more_than_tiny(measured):
    rows, _ = measured
    for metric in ("energy_per_inference", "energy_above_idle_per_inference", "co2e_per_inference"):
        big, tiny = find(rows, "big", metric), find(rows, "tiny", metric)
        if "above_idle" in metric and ("note" in big or "note" in tiny):
            continue  # other processes' load skewed the idle baseline; the rows say so
        assert big["value"] > tiny["value"]


def test_no_files_written(measured):
    _, folder = measured
    assert list(folder.iterdir()) == []


def test_co2e_is_kwh_times_grid_intensity(measured):
    rows, _ = measured
    intensity = codecarbon.input.DataSource().get_global_energy_mix_data()["FRA"]["carbon_intensity"]
    joules = find(rows, "big", "energy_per_inference")["value"]
    co2e = find(rows, "big", "co2e_per_inference")
    assert co2e["value"] == pytest.approx(joules / 3.6e6 * intensity)
    assert co2e["unit"] == "g CO2e" and "FRA" in co2e["method"] and "offline grid data 2023" in co2e["method"]
    assert energy.co2e_grams(3.6e6, "FRA") == pytest.approx(intensity)


def test_countries_and_unknown_country():
    assert {"FRA", "USA", "IND", "NOR"} <= set(energy.countries())
    with pytest.raises(ValueError, match="FRA"):
        energy.co2e_grams(1.0, "XXX")
    with pytest.raises(ValueError, match="countries"):
        energy.measure_energy({"tiny": tiny_model()}, EXAMPLE, country="France")


def test_callable_counts_one_inference_per_call(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = energy.measure_energy({"nap": lambda: time.sleep(0.01)}, window_s=0.2, repeats=1, idle=False, progress=False)
    assert [r["metric"] for r in rows] == ["energy_per_inference", "co2e_per_inference"]
    assert 0.02 < rows[0]["value"] < 2.0  # about 20 W for 10 ms


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_s": 0}, "window_s must be > 0"),
        ({"window_s": -1.0}, "window_s must be > 0"),
        ({"repeats": 0}, "repeats must be >= 1"),
        ({"models": {}}, "models is empty"),
        ({"example": torch.full((4, 64), float("nan"))}, "NaN"),
        ({"example": None}, "example is required"),
    ],
)
def test_bad_inputs_raise_helpful_errors(kwargs, message):
    args = {"models": {"tiny": tiny_model()}, "example": EXAMPLE, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        energy.measure_energy(**args)


def test_modelled_energy_int8_below_fp32():
    fp32 = energy.modelled_energy(big_model(), EXAMPLE)
    int8 = energy.modelled_energy(big_model(), EXAMPLE, "int8")
    assert 0 < int8["value"] < fp32["value"]
    assert fp32["metric"] == "energy_modelled_per_inference" and fp32["unit"] == "J"
    assert fp32["method"] == "modelled (server, Horowitz 2014, 45 nm)" and fp32["profile"] == "server"
    assert fp32["macs"] == 64 * 512 + 512 * 512 + 512 * 10
    assert fp32["value"] == pytest.approx(fp32["compute_j"] + fp32["memory_j"])
    # The server profile keeps the figures this function always used: 4.6 pJ per fp32 MAC, 640 pJ per DRAM word.
    words = sum(p.numel() for p in big_model().parameters()) + fp32["activation_words"]
    assert fp32["value"] == pytest.approx(fp32["macs"] * 4.6e-12 + words * 640e-12)
    with pytest.raises(ValueError, match="fp32"):
        energy.modelled_energy(big_model(), EXAMPLE, "fp16")


def test_reprice_replaces_the_modelled_rows_with_another_profile():
    from lightlab.measurement.report import Report

    models = {"big": big_model(), "tiny": tiny_model()}
    report = Report([energy.modelled_energy(m, EXAMPLE, name=n) for n, m in models.items()])
    report.add("big", "accuracy", 90.0, "%", "by hand")
    energy.reprice_(report, {"big": models["big"]}, EXAMPLE, "mcu")
    methods = {(r["model"], r["metric"]): r["method"] for r in report.rows}
    assert methods[("big", "energy_modelled_per_inference")] == "modelled (mcu, nRF52840 datasheet + eFlash)"
    assert methods[("tiny", "energy_modelled_per_inference")].startswith("modelled (server")  # not in models: kept
    assert len(report.rows) == 3 and report.value("big", "accuracy") == 90.0
    mcu = energy.modelled_energy(models["big"], EXAMPLE, profile="mcu")["value"]
    assert report.value("big", "energy_modelled_per_inference") == pytest.approx(mcu)


def test_always_zero_is_unavailable_not_zero(monkeypatch):
    def zero(tracker):
        tracker.final_emissions_data.energy_consumed = 0.0

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", tracker_class(zero))
    monkeypatch.setattr(meter, "MAX_DOUBLINGS", 1)
    rows = energy.measure_energy({"nap": lambda: None}, window_s=0.05, repeats=1, idle=False, progress=False)
    assert all(math.isnan(r["value"]) and r["method"].startswith("unavailable") for r in rows)


def test_codecarbon_failure_gives_labelled_nan(monkeypatch):
    class Broken:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("no hardware")

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", Broken)
    monkeypatch.setattr(meter, "_method", None)  # the probe itself must fail softly too
    assert meter.method().startswith("unavailable: RuntimeError: no hardware")
    rows = energy.measure_energy({"tiny": tiny_model()}, EXAMPLE, window_s=0.1, repeats=1, progress=False)
    assert len(rows) == 4
    for row in rows:
        assert KEYS <= row.keys() and math.isnan(row["value"])
        assert row["method"] == "unavailable: RuntimeError: no hardware"


def test_silent_stop_failure_is_caught(monkeypatch):
    class StopFails(codecarbon.OfflineEmissionsTracker):
        def _prepare_emissions_data(self):
            raise OSError("disk gone")  # CodeCarbon's stop() swallows this

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", StopFails)
    rows = energy.measure_energy({"nap": lambda: None}, window_s=0.05, repeats=1, idle=False, progress=False)
    assert all(math.isnan(r["value"]) and "stop() failed silently" in r["method"] for r in rows)


@pytest.fixture
def exclusive_lock(tmp_path, monkeypatch):
    """CodeCarbon's file lock, switched on (3.3.2 allows parallel runs by default), in a private path."""
    path = tmp_path / ".codecarbon.lock"
    monkeypatch.setattr(codecarbon.lock, "LOCKFILE", str(path))
    monkeypatch.setenv("CODECARBON_ALLOW_MULTIPLE_RUNS", "false")
    monkeypatch.chdir(tmp_path)
    return path


def test_stale_lock_is_recovered(exclusive_lock):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    exclusive_lock.write_text(str(dead.pid))  # as left by a crashed kernel
    handler = signal.getsignal(signal.SIGINT)
    rows = energy.measure_energy({"nap": lambda: None}, window_s=0.05, repeats=1, idle=False, progress=False)
    assert all(r["value"] > 0 for r in rows), rows
    assert not exclusive_lock.exists()  # released after the run
    leftovers = [o for o in gc.get_objects() if type(o) is codecarbon.lock.Lock and o._has_created_lock]
    assert leftovers == []  # or CodeCarbon's atexit hook would delete another run's lock file
    assert signal.getsignal(signal.SIGINT) is handler  # CodeCarbon's lock must not hijack Ctrl-C


@pytest.mark.parametrize("owner", [str(os.getppid()), ""], ids=["live-pid", "unknown-owner"])
def test_live_lock_is_respected(exclusive_lock, owner):
    exclusive_lock.write_text(owner)  # a live process, or plain CodeCarbon's empty lock made since boot
    rows = energy.measure_energy({"nap": lambda: None}, window_s=0.05, repeats=1, idle=False, progress=False)
    assert all(math.isnan(r["value"]) and "another CodeCarbon run" in r["method"] for r in rows)
    assert exclusive_lock.exists()


def test_foreign_load_is_noted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        rows = energy.measure_energy(
            {"nap": lambda: time.sleep(0.01)}, window_s=0.3, repeats=1, idle=False, progress=False
        )
    finally:
        burner.kill()
        burner.wait()
    assert all("disturbed by other processes' load" in r["note"] for r in rows), rows
    assert all(r["value"] > 0 for r in rows)


def test_import_does_not_load_codecarbon():
    code = "import sys, lightlab.measurement.energy; assert 'codecarbon' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

"""The CodeCarbon plumbing and the CPU-load meter (ll.meter) against the real CodeCarbon, with short windows."""

from __future__ import annotations

import os
import threading
import time

import codecarbon
import pytest
from _codecarbon import tracker_class

from lightlab.measurement import meter


def test_method_labels():
    label = meter.method()
    assert label == meter.method()  # cached
    assert label.startswith("measured" if meter.has_power_meter() else "estimated")
    assert "CodeCarbon" in label and "CodeCarbon" in meter.expected_method()


def test_zero_reading_extends_the_window(monkeypatch):
    readings = []

    def zero_first(tracker):
        if not readings:
            tracker.final_emissions_data.energy_consumed = 0.0
        readings.append(tracker.final_emissions_data.duration)

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", tracker_class(zero_first))
    window = meter._positive_window(lambda: time.sleep(0.01), 0.1, "FRA")
    assert len(readings) == 2 and readings[1] >= 0.2
    assert window["joules"] > 0 and window["seconds"] >= 0.2


def test_one_tracker_at_a_time(monkeypatch):
    events = []

    class Tracker(codecarbon.OfflineEmissionsTracker):
        def start(self):
            events.append("start")
            super().start()

        def stop(self):
            events.append("stop")
            return super().stop()

    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", Tracker)
    threads = [threading.Thread(target=meter._tracked_loop, args=(lambda: time.sleep(0.01), 0.1, "FRA"))
               for _ in range(3)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert events == ["start", "stop"] * 3  # never two trackers running at once


def test_failing_model_stops_the_tracker(monkeypatch):
    stopped = []
    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", tracker_class(stopped.append))

    def broken() -> None:
        raise RuntimeError("model bug")

    with pytest.raises(RuntimeError, match="model bug"):
        meter._tracked_loop(broken, 0.1, "FRA")
    assert len(stopped) == 1 and not meter._TRACKER_LOCK.locked()


def test_foreign_load_ignores_counter_ticks():
    tick = 1 / os.sysconf("SC_CLK_TCK")
    # one tick of someone else's CPU time in a 0.4 ms timing window is the counters' resolution, not 25 cores
    assert meter.foreign_cores(busy=tick, own=0.0, seconds=0.0004) == 0.0
    # a whole core busy elsewhere for a second is a core, less the resolution
    assert meter.foreign_cores(busy=2.0, own=1.0, seconds=1.0) == pytest.approx(1.0, abs=0.1)
    assert meter.foreign_cores(busy=1.0, own=1.0, seconds=1.0) == 0.0


def test_tracked_reads_the_energy_of_a_block():
    with meter.tracked() as used:
        assert used == {}  # filled when the block ends
        sum(i * i for i in range(2_000_000))
    assert used["joules"] > 0 and used["seconds"] > 0
    assert used["method"].startswith(("estimated (CodeCarbon", "measured ("))
    assert used["note"] is None or used["note"].startswith("disturbed")


def test_tracked_stops_its_tracker_when_the_block_fails():
    with pytest.raises(ValueError, match="a failing block"), meter.tracked():
        raise ValueError("a failing block")
    with meter.tracked() as used:  # the lock and the tracker were released: a second block runs
        pass
    assert used["seconds"] >= 0

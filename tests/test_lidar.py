"""The synthetic lidar world (ll.lidar): seeded data, the action rule, disjoint rooms, closed-loop driving."""

import hashlib

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.applications import driving
from lightlab.applications.driving import SIM_STEP_S
from lightlab.data import lidar
from lightlab.data import lidar as lw


@pytest.fixture(scope="module")
def scans():
    return {split: lidar.generate(split) for split in lw.SPLITS}


@pytest.fixture(scope="module")
def small():
    return ll.zoo.pretrained("lidar-small")


def test_generation_is_deterministic_per_seed(scans):
    again = lidar.generate("test")
    for name in ("noisy", "clean", "labels", "worlds", "poses"):
        assert np.array_equal(getattr(scans["test"], name), getattr(again, name))
    other = lidar.generate("test", seed=1)
    assert not np.array_equal(other.clean, scans["test"].clean)


def test_classes_are_balanced_in_every_split(scans):
    for split, (_, n) in lw.SPLITS.items():
        assert np.bincount(scans[split].labels, minlength=4).tolist() == [n // 4] * 4


def test_splits_never_share_a_world(scans):
    def fingerprints(split):
        return {hashlib.sha256(lidar.make_world(s).segments.tobytes()).hexdigest() for s in scans[split].world_seeds}

    seen = {split: fingerprints(split) for split in scans}
    assert len(seen["train"]) == lw.SPLITS["train"][0]  # every training room is a different room
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    for split, s in scans.items():  # every scan names a world of its own split
        assert set(np.unique(s.worlds)) <= set(range(lw.SPLITS[split][0]))


def test_labels_follow_the_rule_on_the_clean_scans(scans):
    s = scans["test"]
    assert np.array_equal(lidar.label(s.clean), s.labels)
    # and the clean scans are what the world shows from those poses
    for i in np.flatnonzero(s.worlds == 0)[:20]:
        world = lidar.make_world(s.world_seeds[0])
        assert np.allclose(world.scan(s.poses[i][None])[0], s.clean[i])


def test_rule_by_hand():
    open_floor = np.full(lidar.BEAMS, lidar.RANGE_MAX)
    wall_ahead = lidar.RANGE_MAX * np.ones(lidar.BEAMS)
    ahead = np.abs(lidar.ANGLES) < 0.2
    for distance, expected in ((8.0, "forward"), (1.0, "turn left"), (0.4, "stop")):
        ranges = wall_ahead.copy()
        ranges[ahead] = distance
        ranges[lidar.ANGLES < -0.2] = 2.0  # less room on the right
        assert lidar.CLASSES[int(lidar.label(ranges)[0])] == expected, distance
    assert lidar.CLASSES[int(lidar.label(open_floor)[0])] == "forward"
    mirrored = wall_ahead.copy()
    mirrored[ahead], mirrored[lidar.ANGLES > 0.2] = 1.0, 2.0
    assert lidar.CLASSES[int(lidar.label(mirrored)[0])] == "turn right"


def test_sensor_faults(scans):
    s = scans["test"]
    assert s.noisy.min() >= 0 and s.noisy.max() <= lidar.RANGE_MAX
    dropped = (s.noisy == lidar.RANGE_MAX) & (s.clean < lidar.RANGE_MAX)
    assert 0.03 < dropped.mean() < 0.2  # up to 20 % per scan, 10 % on average
    assert np.median(np.abs(s.noisy - s.clean)[~dropped]) < 0.05
    rng = np.random.default_rng(0)
    assert np.array_equal(lidar.PERFECT(s.clean, rng), s.clean)
    with pytest.raises(ValueError, match="dropout"):
        lidar.Sensor(dropout=1.5)
    with pytest.raises(ValueError, match="unknown split"):
        lidar.generate("holdout")


def test_task_is_labelled_synthetic_and_matches_the_generator(scans):
    task = ll.load("lidar")
    assert task.synthetic and "synthetic" in task.description.lower()
    assert (task.name, task.domain, task.input_shape, task.metric) == ("lidar", "autonomous", (1, 64), "accuracy")
    assert task.classes == ["forward", "turn left", "turn right", "stop"]
    assert torch.equal(task.splits["test"].tensors[0], lidar.to_input(scans["test"].noisy))
    assert task.sizes()["test"] == lw.SPLITS["test"][1]


def test_fresh_answers_crash_less_than_stale_ones():
    worlds = [lidar.held_out_world(i) for i in range(3)]
    config = driving.DriveConfig(speed=1.5, period_ms=50, duration_s=10)
    fresh = [driving.drive(lidar.label, w, 0.0, config, sensor=lidar.PERFECT) for w in worlds]
    stale = [driving.drive(lidar.label, w, 400.0, config, sensor=lidar.PERFECT) for w in worlds]
    assert sum(r.collisions for r in fresh) == 0 < sum(r.collisions for r in stale)
    assert all(r.dropped == 0 for r in fresh) and all(r.dropped_share > 0.8 for r in stale)  # 1 scan in 9 is used
    # with instant answers the acted-on scan is on average half a period old (minus half a tick)
    assert fresh[0].staleness_ms == pytest.approx((50 - 1e3 * SIM_STEP_S) / 2, abs=0.5)
    assert sum(r.distance_m for r in fresh) > sum(r.distance_m for r in stale)


def test_drive_is_deterministic_and_counts_missed_deadlines(small):
    world, config = lidar.held_out_world(1), driving.DriveConfig(period_ms=20, duration_s=4, slowdown=100)
    policy = driving.model_policy(small)
    a, b = (driving.drive(policy, world, [0.1, 0.3], config) for _ in range(2))
    assert np.array_equal(a.path, b.path) and a.collisions == b.collisions
    # 10 or 30 ms per answer (x100 assumed) against a 20 ms period: the 30 ms answers miss their deadline
    assert 0 < a.missed_deadlines < a.frames - a.dropped and a.dropped > 0


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"period_ms": 0}, "period_ms"),
        ({"period_ms": -5}, "period_ms"),
        ({"speed": -1}, "speed"),
        ({"slowdown": 0}, "slowdown"),
        ({"duration_s": float("inf")}, "duration_s"),
    ],
)
def test_bad_drive_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        driving.DriveConfig(**bad)


def test_compare_drives_needs_runs(small):
    with pytest.raises(ValueError, match="at least one room"):
        driving.compare_drives({"small": small}, {"small": 0.03}, worlds=0)


def test_bad_latency_is_refused():
    with pytest.raises(ValueError, match="latency"):
        driving.drive(lidar.label, lidar.held_out_world(0), -1.0)
    with pytest.raises(ValueError, match="latency"):
        driving.drive(lidar.label, lidar.held_out_world(0), [])


def test_deadline_report_scales_measured_latency_by_the_assumed_slowdown():
    timing = ll.measure.Timing([1.0, 2.0, 3.0, 4.0], warmup=0, threads=1, batch_size=1, foreign_cores=1.0)
    report = driving.deadline_report({"m": timing}, period_ms=25, slowdown=10)
    assert report.value("m", "latency_p50") == pytest.approx(25.0)
    assert report.value("m", "late_share") == pytest.approx(50.0)
    latency_rows = [r for r in report.rows if r["metric"].startswith("latency")]
    assert all("ASSUMED" in r["method"] and timing.method in r["method"] for r in latency_rows)
    assert all(r["note"] == timing.note for r in report.rows)  # a disturbed timing says so on every row
    given = driving.deadline_report({"m": [1.0, 3.0]}, period_ms=25)
    assert given.value("m", "latency_p50") == 2.0 and "given in ms" in given.rows[0]["method"]


def test_time_models_takes_turns_and_keeps_each_best_round(small):
    models = {"small": small, "twin": ll.zoo.pretrained("lidar-small")}
    timings = driving.time_models(models, ll.load("lidar").example(4), repeats=5, rounds=2)
    assert list(timings) == ["small", "twin"]
    for t in timings.values():
        assert (t.rounds, t.threads, t.batch_size, len(t.samples_ms)) == (2, 1, 1, 5)
        assert np.array_equal(driving.latency_samples(t), t.samples_ms)  # drive draws from the best round
    report = driving.timing_report(timings)
    assert [r["metric"] for r in report.rows[:3]] == ["latency_p50_b1", "latency_p90_b1", "latency_p99_b1"]
    assert all("best of 2 alternating rounds" in r["method"] for r in report.rows)
    assert report.value("small", "latency_p50_b1") == timings["small"].p50

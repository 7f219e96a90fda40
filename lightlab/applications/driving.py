"""Closed-loop driving under a deadline: a scan every period, an answer after a measured latency, dropped frames.

``drive`` runs one robot in one room; ``deadline_report`` compares latency percentiles with the scan period;
``compare_drives`` sums the outcomes of several models over several test rooms. Latencies are MEASURED on this
machine (``time_models``: LightLab's one timing rule, ``ll.measure.interleaved``); a slower target processor is
emulated by an ASSUMED slow-down factor, always named in the method of the numbers it produces.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from lightlab.config import using_threads
from lightlab.data.lidar import (
    DECEL,
    FORWARD,
    LEFT,
    RIGHT,
    ROBOT_RADIUS,
    SENSOR,
    STOP,
    Sensor,
    World,
    held_out_world,
    to_input,
)
from lightlab.measurement import measure
from lightlab.measurement.measure import Timing
from lightlab.measurement.report import Report

SIM_STEP_S = 0.005  # the simulation's clock tick: 5 ms
Latency = float | Sequence[float] | Timing  # ms: one value, measured samples, or a Timing (``time_models``)


@dataclass(frozen=True)
class DriveConfig:
    """One closed-loop run: driving speed, scan period, length, and the processor's assumed slow-down."""

    speed: float = 1.0  # m/s when the action is "forward"
    period_ms: float = 50.0  # a new scan every period (50 ms = 20 Hz)
    duration_s: float = 20.0
    slowdown: float = 1.0  # ASSUMED: target processor time / this CPU's measured time (1 = this CPU)
    turn_rate: float = 1.5  # rad/s, turning on the spot
    decel: float = DECEL  # m/s^2: braking (and accelerating) limit
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("speed", "period_ms", "duration_s", "slowdown", "turn_rate", "decel"):
            value = getattr(self, name)
            if not (value > 0 or (name == "speed" and value == 0)) or not np.isfinite(value):
                raise ValueError(
                    f"{name} must be a finite number > 0, got {value!r}"
                    + ("; a scan period of 50 ms is 20 Hz" if name == "period_ms" else "")
                )


@dataclass
class Drive:
    """What a closed-loop run did: bumps, distance, frames used and dropped, how old the acted-on scan was."""

    collisions: int
    distance_m: float
    frames: int
    dropped: int
    missed_deadlines: int  # processed frames whose answer took longer than the scan period
    staleness_ms: float  # mean age of the scan behind the action being executed
    stops: int  # emergency stops: "stop" while moving (an obstacle in the protective field)
    path: np.ndarray = field(repr=False)  # [steps, 5]: x, y, heading, action, 1 where a bump happened
    config: DriveConfig = field(repr=False, default_factory=DriveConfig)

    @property
    def dropped_share(self) -> float:
        """Return the share of scans that arrived while the model was still busy (never looked at)."""
        return self.dropped / max(self.frames, 1)


def latency_samples(latency_ms: Latency) -> np.ndarray:
    """Return latency samples in ms from a number, a sequence or a ``Timing`` (its best round's samples), checked."""
    samples = np.atleast_1d(
        np.asarray(latency_ms.samples_ms if isinstance(latency_ms, Timing) else latency_ms, dtype=float)
    )
    if samples.size == 0 or not np.isfinite(samples).all() or (samples < 0).any():
        raise ValueError(
            f"latency must be finite numbers >= 0 ms, got {latency_ms!r}; "
            f"measure it with driving.time_models(models, example)"
        )
    return samples


def time_models(
    models: dict[str, torch.nn.Module],
    example: torch.Tensor,
    repeats: int | None = None,
    threads: int = 1,
    rounds: int | None = None,
) -> dict[str, Timing]:
    """Return each model's batch-1 latency on ``threads`` threads, timed by ``ll.measure.interleaved``.

    The models take turns for ``rounds`` rounds (default ``measure.ROUNDS``) and each keeps its best round: its
    samples are what ``drive`` draws its latencies from, and a Timing that other programs disturbed says so in its
    ``note``. One thread by default: a microcontroller has one core, and on a busy shared machine two threads wait
    for each other, which measures the machine's load rather than the model.
    """
    with using_threads(threads):
        return measure.interleaved(models, example[:1], rounds=rounds, repeats=repeats)


def timing_report(timings: dict[str, Timing]) -> Report:
    """Return the measured p50, p90 and p99 latency of ``timings`` at batch 1, disturbed ones noted.

    p50 and p90 are ``ll.measure.add_timing``'s rows; p99, the tail a deadline is about, is this topic's own row.
    """
    report = Report()
    for name, t in timings.items():
        measure.add_timing(report, name, t, p90=True)
        p99 = float(np.percentile(t.samples_ms, 99))
        report.add(name, f"latency_p99_b{t.batch_size}", p99, "ms", t.method, note=t.note)
    return report


def model_policy(model: torch.nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """Return a policy: noisy scans [N, BEAMS] in metres -> the model's actions [N]."""
    model.eval()

    def policy(ranges: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(to_input(ranges)).argmax(1).numpy()

    return policy


def _deliver(answer: tuple | None, action: int, scanned_at: float | None, t: float) -> tuple:
    """Return (answer, action, scan time): an answer (ready time, action, scan time) takes over once it is ready."""
    if answer is not None and answer[0] <= t + 1e-9:
        return None, answer[1], answer[2]
    return answer, action, scanned_at


def drive(
    policy: Callable[[np.ndarray], np.ndarray],
    world: World,
    latency_ms: Latency,
    config: DriveConfig = DriveConfig(),
    sensor: Sensor = SENSOR,
) -> Drive:
    """Return a closed-loop run of ``policy`` in ``world``: each scan's action applies ``latency`` later.

    A scan arrives every ``period_ms``; the policy answers after a latency drawn from ``latency_ms`` (measured
    samples, times the ASSUMED ``slowdown``). Scans that arrive while it is busy are dropped; until a new answer
    comes, the robot keeps executing the last one. Forward drives at ``speed``, turns spin on the spot, stop
    brakes; speed changes at most ``decel`` m/s^2. A bump counts once and the robot does not move into the obstacle.
    Time advances in steps of ``SIM_STEP_S``; the same config and seed give the same run.
    """
    samples = latency_samples(latency_ms) * config.slowdown / 1e3
    period, dt, rng = config.period_ms / 1e3, SIM_STEP_S, np.random.default_rng(config.seed)
    candidates = world.free_poses(200, rng)
    x, y, heading = map(float, candidates[world.clearance(candidates[:, :2]).argmax()])  # the most open spot
    action, scanned_at, answer = STOP, None, None  # answer: (ready time, action, scan time) while the model works
    speed, free = 0.0, 0.0  # free: how far the robot may still move before it must look for obstacles again
    next_scan, frames, dropped, missed, bumps, stops, touching, distance, stale = 0.0, 0, 0, 0, 0, 0, False, 0.0, []
    path = np.zeros((round(config.duration_s / dt), 5))
    # Batch-1 answers gain nothing from a second thread, and on a busy machine two threads wait for each other.
    with using_threads(1):
        for k in range(len(path)):
            t, before = k * dt, action
            answer, action, scanned_at = _deliver(answer, action, scanned_at, t)
            if t >= next_scan - 1e-9:  # a scan arrives
                frames, next_scan = frames + 1, next_scan + period
                if answer is None:  # the model is free: it starts on this scan
                    lag = float(rng.choice(samples))
                    missed += lag > period
                    scan = sensor(world.scan(np.array([[x, y, heading]], dtype=np.float32)), rng)
                    answer = (t + lag, int(policy(scan)[0]), t)
                else:
                    dropped += 1
            answer, action, scanned_at = _deliver(answer, action, scanned_at, t)  # a zero latency answers at once
            stops += action == STOP and before != STOP and speed > 0  # braking from motion: the field tripped
            if scanned_at is not None:
                stale.append(t - scanned_at)
            target = config.speed if action == FORWARD else 0.0
            speed = min(target, speed + config.decel * dt) if target > speed else max(target, speed - config.decel * dt)
            heading += {LEFT: 1, RIGHT: -1}.get(action, 0) * config.turn_rate * dt
            move, bumped = speed * dt, False
            nx, ny = x + move * math.cos(heading), y + move * math.sin(heading)
            if move > free:  # clearance is 1-Lipschitz: within `free` of a checked point nothing can be hit
                gap = float(world.clearance(np.array([[nx, ny]]))[0])
                bumped, free = gap < ROBOT_RADIUS, gap - ROBOT_RADIUS
            else:
                free -= move
            if bumped:  # the robot stays where it was; one bump per contact
                path[k, 4], bumps, speed, touching = not touching, bumps + (not touching), 0.0, True
            else:
                x, y, distance, touching = nx, ny, distance + move, touching and move == 0
            path[k, :4] = x, y, heading, action
    return Drive(
        bumps,
        distance,
        frames,
        dropped,
        missed,
        1e3 * float(np.mean(stale)) if stale else float("nan"),
        stops,
        path,
        config,
    )


# ASSUMED, not measured: how much slower a target processor runs the same model than this machine. Rough ratios of
# multiply-accumulate rates: eager PyTorch on one thread of a recent x86 core runs lidar-large's 5 M MACs at batch 1
# at roughly 10-25 G MAC/s (0.2 ms measured on the 2-core machine LightLab is tested on); a Cortex-M7 at ~480 MHz
# sustains very roughly 0.2 G MAC/s in FP32, a Cortex-M4 at ~80 MHz roughly 0.02 G MAC/s (at best one
# multiply-accumulate per cycle, fewer in practice): 50-125x and 500-1250x. Scaling an eager-PyTorch timing also
# scales its fixed Python overhead (~15-30 us per call), which a microcontroller does not have: pessimistic for
# tiny models. Change the factor.
DEVICES = {
    "this CPU (measured, x1)": 1.0,
    "Cortex-M7-class MCU (assumed 100x slower)": 100.0,
    "Cortex-M4-class MCU (assumed 1000x slower)": 1000.0,
}
CORTEX_M4 = DEVICES["Cortex-M4-class MCU (assumed 1000x slower)"]


def _method(slowdown: float, timing: Latency = 0.0) -> str:
    """Return where a latency comes from: how it was measured (a Timing's method) and any ASSUMED slow-down."""
    how = f"measured here ({timing.method})" if isinstance(timing, Timing) else "latency given in ms"
    return how + (f" x {slowdown:g}, an ASSUMED slow-down" if slowdown != 1 else "")


def deadline_report(timings: dict[str, Latency], period_ms: float, slowdown: float = 1.0) -> Report:
    """Return each model's p50/p90/p99 latency (measured x assumed slow-down) and its share of late answers.

    A Timing's method and its "disturbed" note (other programs used the CPU while timing) go with every row.
    """
    DriveConfig(period_ms=period_ms, slowdown=slowdown)  # validates both
    report = Report()
    for name, timing in timings.items():
        samples, note = latency_samples(timing) * slowdown, getattr(timing, "note", None)
        for q in (50, 90, 99):
            value = float(np.percentile(samples, q))
            report.add(name, f"latency_p{q}", value, "ms", _method(slowdown, timing), note=note)
        late = 100 * float((samples > period_ms).mean())
        report.add(name, "late_share", late, "%", f"calls slower than the {period_ms:.3g} ms scan period", note=note)
    return report


def compare_drives(
    models: dict[str, torch.nn.Module],
    timings: dict[str, Latency],
    config: DriveConfig = DriveConfig(),
    worlds: int = 4,
    seeds: int = 1,
) -> Report:
    """Return closed-loop outcomes of each model over the first ``worlds`` test rooms x ``seeds`` runs each.

    Bumps and emergency stops are summed over all runs, the other figures averaged: one run is chaotic (a slightly
    different answer sends the robot elsewhere), so compare totals over many runs.
    """
    if worlds < 1 or seeds < 1:
        raise ValueError(f"need at least one room and one seed, got worlds={worlds}, seeds={seeds}")
    setting = (
        f"closed-loop simulation, {worlds} test rooms x {seeds} seeds x {config.duration_s:g} s, {config.speed:g} "
        f"m/s, scan every {config.period_ms:.3g} ms, latency"
    )
    report = Report()
    for name, model in models.items():
        runs = [
            drive(
                model_policy(model), held_out_world(i), timings[name], dataclasses.replace(config, seed=config.seed + s)
            )
            for i in range(worlds)
            for s in range(seeds)
        ]
        how, note = f"{setting} {_method(config.slowdown, timings[name])}", getattr(timings[name], "note", None)
        for metric, value, unit in (
            ("collisions", sum(r.collisions for r in runs), "count"),
            ("emergency_stops", sum(r.stops for r in runs), "count"),
            ("distance", float(np.mean([r.distance_m for r in runs])), "m per run"),
            ("dropped_frames", 100 * float(np.mean([r.dropped_share for r in runs])), "%"),
            ("staleness", float(np.mean([r.staleness_ms for r in runs])), "ms"),
        ):
            report.add(name, metric, value, unit, how, note=note)
    return report


def speed_sweep(
    models: dict[str, torch.nn.Module],
    timings: dict[str, Latency],
    speeds: Sequence[float],
    config: DriveConfig = DriveConfig(),
    worlds: int = 4,
    seeds: int = 1,
) -> Report:
    """Return ``compare_drives`` at each speed; the metrics are named with it, e.g. "collisions at 1.5 m/s"."""
    report = Report()
    for speed in speeds:
        for row in compare_drives(models, timings, dataclasses.replace(config, speed=speed), worlds, seeds).rows:
            report.extend([{**row, "metric": f"{row['metric']} at {speed:g} m/s"}])
    return report

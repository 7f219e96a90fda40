"""Pictures and knobs for the lidar world: a scan in its room, driven paths, and two explorers."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from lightlab.applications.driving import CORTEX_M4, DEVICES, Drive, DriveConfig, deadline_report, drive, model_policy
from lightlab.data.lidar import ANGLES, CLASSES, ROBOT_RADIUS, SENSOR, Sensor, World, held_out_world, label
from lightlab.face.widgets import Explorer, slider
from lightlab.measurement.measure import Timing
from lightlab.measurement.report import Report
from lightlab.measurement.units import human


def _map(world: World, fig: go.Figure, **where) -> None:
    """Draw the world's walls, boxes and round obstacles into ``fig``."""
    xs, ys = [], []
    for x0, y0, x1, y1 in world.segments:
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    a = np.linspace(0, 2 * np.pi, 25)
    for x, y, r in world.circles:
        xs += [*(x + r * np.cos(a)), None]
        ys += [*(y + r * np.sin(a)), None]
    fig.add_scatter(x=xs, y=ys, mode="lines", line={"color": "black"}, name="obstacles", **where)
    fig.update_yaxes(scaleanchor="x", **where)


def plot_scan(world: World, pose: Sequence[float], sensor: Sensor = SENSOR, seed: int = 0) -> go.Figure:
    """Return a figure: the room with the robot's clean and noisy scan, and both scans as range per angle."""
    pose = np.asarray(pose, dtype=np.float32)[None]
    clean = world.scan(pose)
    noisy = sensor(clean, np.random.default_rng(seed))
    action = CLASSES[int(label(clean)[0])]
    fig = make_subplots(
        1,
        2,
        column_widths=[0.55, 0.45],
        subplot_titles=["room and scan (top view)", f"scan by angle (rule: {action})"],
    )
    _map(world, fig, row=1, col=1)
    for ranges, name, colour in ((clean[0], "clean", "green"), (noisy[0], "noisy (what the model sees)", "red")):
        heading = pose[0, 2] + ANGLES
        fig.add_scatter(
            x=pose[0, 0] + ranges * np.cos(heading),
            y=pose[0, 1] + ranges * np.sin(heading),
            mode="markers",
            marker={"size": 4, "color": colour},
            name=name,
            row=1,
            col=1,
        )
        fig.add_scatter(
            x=np.degrees(ANGLES),
            y=ranges,
            mode="lines+markers",
            marker={"size": 4, "color": colour},
            showlegend=False,
            row=1,
            col=2,
        )
    a, (x, y, heading) = np.linspace(0, 2 * np.pi, 25), pose[0]
    fig.add_scatter(
        x=[*(x + ROBOT_RADIUS * np.cos(a)), None, x, x + 0.5 * np.cos(heading)],
        mode="lines",
        y=[*(y + ROBOT_RADIUS * np.sin(a)), None, y, y + 0.5 * np.sin(heading)],
        name="robot, heading",
        line={"color": "blue"},
        row=1,
        col=1,
    )
    fig.update_xaxes(title_text="beam angle (degrees, left > 0)", row=1, col=2)
    fig.update_yaxes(title_text="range (m)", row=1, col=2)
    return fig.update_layout(height=420, margin={"t": 40, "b": 40})


def plot_drives(world: World, drives: dict[str, Drive]) -> go.Figure:
    """Return a top view of the room with each run's path; crosses mark where the robot bumped into something."""
    fig = go.Figure()
    _map(world, fig)
    for name, run in drives.items():
        fig.add_scatter(
            x=run.path[:, 0],
            y=run.path[:, 1],
            mode="lines",
            name=f"{name}: {run.collisions} bumps, {run.distance_m:.1f} m",
        )
        bumps = run.path[run.path[:, 4] == 1]
        fig.add_scatter(
            x=bumps[:, 0],
            y=bumps[:, 1],
            mode="markers",
            showlegend=False,
            marker={"symbol": "x", "size": 11, "color": "red"},
            hovertext="bump",
        )
    if drives:
        start = next(iter(drives.values())).path[0]
        fig.add_scatter(x=[start[0]], y=[start[1]], mode="markers", name="start", marker={"size": 12})
    # The legend above the room: under it, a horizontal legend would lie over the x-axis ticks.
    return fig.update_layout(
        height=480,
        margin={"t": 70, "b": 30},
        legend={"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
    )


def _provenance(device: w.Dropdown, timings: dict) -> str:
    """Return a line saying which latencies are measured, which factor is assumed, and which timing was disturbed."""
    line = "<i>Latencies measured on this CPU (one thread, best of alternating rounds)"
    if device.value != 1:
        line += f" x {device.value:g} for a {device.label}: the factor is an assumption, not a measurement"
    busy = [name for name, t in timings.items() if getattr(t, "note", None)]
    if busy:
        line += (
            f". Disturbed timing ({', '.join(busy)}): other programs used the CPU meanwhile, so the tail is "
            "inflated; rerun driving.time_models on a quiet machine"
        )
    return line + ".</i><br>"


class DeadlineExplorer(Explorer):
    """Which models answer before the next scan? Scan rate and target processor redraw the latency percentiles."""

    def __init__(self, timings: dict[str, Timing]):
        self.timings = timings
        self.rate = slider(w.IntSlider, "scans a second", 10, 5, 50, 5)
        self.device = w.Dropdown(options=DEVICES, value=CORTEX_M4, description="runs on", layout=w.Layout(width="auto"))
        self.result: Report | None = None
        # One line per model needs HTML (a Label shows no line break); in a Box, so its changes rerun nothing.
        self.layout((self.rate, self.device), summary="html")

    def run(self) -> Report:
        """Compare each model's latency percentiles with the scan period; return the Report."""
        period = 1e3 / self.rate.value
        report = deadline_report(self.timings, period, self.device.value)
        fig = go.Figure()
        for q in (50, 90, 99):
            fig.add_bar(name=f"p{q}", x=list(self.timings), y=[report.value(m, f"latency_p{q}") for m in self.timings])
        # No annotation on the line: on a log axis plotly reads an annotation's y as log10(y).
        fig.add_hline(y=period, line_dash="dash", line_color="black")
        fig.update_layout(
            yaxis_type="log",
            yaxis_title="latency (ms)",
            height=340,
            margin={"t": 40},
            title=f"dashed line: the deadline, next scan in {period:.3g} ms",
        )
        self.result = report
        self.redraw(fig)
        self.summary.value = _provenance(self.device, self.timings) + "<br>".join(
            f"{m}: p50 {human(report.value(m, 'latency_p50'), 'ms')}, p99 {human(report.value(m, 'latency_p99'), 'ms')}"
            + (" is within" if report.value(m, "latency_p99") <= period else " is <b>over</b>")
            + f" the {human(period, 'ms')} deadline ({report.value(m, 'late_share'):.0f} % of the timed calls late)"
            + (" (disturbed)" if getattr(t, "note", None) else "")
            for m, t in self.timings.items()
        )
        return report


class DriveExplorer(Explorer):
    """Drive a test room in closed loop: scan rate, speed, model and processor rerun ``drive``."""

    def __init__(
        self,
        models: dict[str, torch.nn.Module],
        timings: dict[str, Timing],
        world: World | None = None,
        duration_s: float = 20.0,
    ):
        self.models, self.timings, self.world = models, timings, world or held_out_world(0)
        self.duration_s = duration_s
        self.rate = slider(w.IntSlider, "scans a second", 10, 5, 50, 5)
        self.speed = slider(w.FloatSlider, "speed (m/s)", 1.5, 0.5, 2.5, 0.25)
        self.model = w.Dropdown(options=list(models), description="model")
        self.device = w.Dropdown(options=DEVICES, value=CORTEX_M4, description="runs on", layout=w.Layout(width="auto"))
        self.result: dict[str, Drive] | None = None
        # One line per run needs HTML (a Label shows no line break); in a Box, so its changes rerun nothing.
        self.layout((self.rate, self.speed), (self.model, self.device), summary="html")

    def run(self) -> dict[str, Drive]:
        """Drive with the chosen model's measured latency and with instant answers; return both runs."""
        config = DriveConfig(
            speed=self.speed.value,
            period_ms=1e3 / self.rate.value,
            slowdown=self.device.value,
            duration_s=self.duration_s,
        )
        name, policy = self.model.value, model_policy(self.models[self.model.value])
        runs = {
            f"{name}, answers after its latency": drive(policy, self.world, self.timings[name], config),
            f"{name}, instant answers": drive(policy, self.world, 0.0, config),
        }
        self.result = runs
        self.redraw(plot_drives(self.world, runs))
        self.summary.value = _provenance(self.device, {name: self.timings[name]}) + "<br>".join(
            f"{label_}: {r.collisions} bumps, {r.stops} emergency stops, {r.distance_m:.1f} m covered, "
            f"{100 * r.dropped_share:.0f} % of scans dropped, acting on scans {r.staleness_ms:.0f} ms old on average"
            for label_, r in runs.items()
        )
        return runs


def plot_speed_sweep(
    report: Report, speeds: Sequence[float], metrics: Sequence[str] = ("collisions", "emergency_stops", "distance")
) -> go.Figure:
    """Return one panel per metric of a ``speed_sweep`` report: a line per model against the driving speed.

    Runs whose name contains "instant" (the same model answering at once) are drawn dotted in their model's colour.
    """
    units = {r["metric"].split(" at ")[0]: r["unit"] for r in report.rows}
    titles = [f"{m.replace('_', ' ')} ({units[m]})" if units.get(m) else m.replace("_", " ") for m in metrics]
    fig = make_subplots(1, len(metrics), subplot_titles=titles)
    bases = list(dict.fromkeys(name.split(",")[0] for name in report.models()))
    for name in report.models():
        colour = ["#EF553B", "#636EFA", "#00CC96", "#AB63FA"][bases.index(name.split(",")[0]) % 4]
        for col, metric in enumerate(metrics, start=1):
            fig.add_scatter(
                x=list(speeds),
                y=[report.value(name, f"{metric} at {s:g} m/s") for s in speeds],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=col == 1,
                row=1,
                col=col,
                line={"color": colour, "dash": "dot" if "instant" in name else "solid"},
            )
            fig.update_xaxes(title_text="speed (m/s)", row=1, col=col)
    return fig.update_layout(height=340, margin={"t": 40, "b": 40})

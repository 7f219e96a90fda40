"""A controller that runs an adaptive model at the operating point its resource budget allows.

``Controller(slimmable.profile(model, task)).pick(Budget(latency_ms=..., memory_bytes=..., battery=...))`` returns
the most accurate width that meets every limit, and raises naming the tightest feasible budget when none does.
``battery_day`` and ``simulate`` show it switching as a battery drains; ``BudgetExplorer`` is its widget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotly.graph_objects as go

from lightlab.face import plots
from lightlab.face.widgets import Explorer
from lightlab.measurement.report import Report
from lightlab.techniques.adaptive.slimmable import point_name

# Battery -> energy budget: at or above this charge the widest model may run; below it the energy allowed per
# inference shrinks in proportion (20 % charge allows 40 % of the widest model's energy per inference).
BATTERY_FULL_POWER = 0.5


def _check_limit(name: str, value: float, unit: str, example: str) -> None:
    if math.isnan(value) or value <= 0:
        raise ValueError(
            f"{name} must be a positive number of {unit} (math.inf for no limit), got {value}; e.g. {name}={example}"
        )


@dataclass(frozen=True)
class Budget:
    """What the device can spend on one inference now; math.inf means no limit.

    ``battery`` (charge in [0, 1]) becomes an energy budget: at or above ``BATTERY_FULL_POWER`` (50 %) any width
    may run; below it the energy allowed per inference is ``battery / 0.5`` times the widest width's (modelled)
    energy, so 20 % charge allows 40 % of it. ``energy_j`` caps the energy per inference directly.
    """

    latency_ms: float = math.inf
    memory_bytes: float = math.inf
    battery: float = 1.0
    energy_j: float = math.inf

    def __post_init__(self) -> None:
        _check_limit("latency_ms", self.latency_ms, "milliseconds", "0.2")
        _check_limit("memory_bytes", self.memory_bytes, "bytes", "500_000")
        _check_limit("energy_j", self.energy_j, "joules per inference", "1e-4")
        if math.isnan(self.battery) or not 0 <= self.battery <= 1:
            raise ValueError(f"battery must be a charge in [0, 1], got {self.battery}; write 20 % as 0.2")


class BudgetError(ValueError):
    """No operating point fits a budget; the message names the tightest budget that some width can meet."""


@dataclass(frozen=True)
class Decision:
    """The width the controller picked, what it costs and what it gives up against the widest width."""

    width: float
    accuracy: float
    latency_ms: float
    memory_bytes: float
    energy_j: float
    accuracy_cost: float  # points lost against the widest width
    summary: str


class Controller:
    """Picks the most accurate operating point of a ``profile`` Report that meets every limit of a ``Budget``."""

    def __init__(self, profile_report: Report):
        self.profile = profile_report
        latency = sorted({r["metric"] for r in profile_report.rows if r["metric"].startswith("latency_p50_b")})
        if not latency:
            raise ValueError("the report has no latency_p50_b* rows: build it with slimmable.profile(model, task)")
        self.latency_metric = latency[0]
        names = [
            m
            for m in profile_report.models()
            if any(r["model"] == m and r["metric"] == "width" for r in profile_report.rows)
        ]
        v = profile_report.value
        self.points = sorted(
            (
                {
                    "width": v(m, "width"),
                    "accuracy": v(m, "accuracy"),
                    "latency_ms": v(m, latency[0]),
                    "memory_bytes": v(m, "peak_memory"),
                    "energy_j": v(m, "energy_modelled_per_inference"),
                }
                for m in names
            ),
            key=lambda p: p["width"],
        )
        self.widest = self.points[-1]

    def energy_limit(self, budget: Budget) -> float:
        """Return the energy per inference ``budget`` allows (J): its own cap and the battery's, whichever is less."""
        from_battery = (
            self.widest["energy_j"] * budget.battery / BATTERY_FULL_POWER
            if budget.battery < BATTERY_FULL_POWER
            else math.inf
        )
        return min(budget.energy_j, from_battery)

    def _limits(self, budget: Budget) -> dict[str, float]:
        return {
            "latency_ms": budget.latency_ms,
            "memory_bytes": budget.memory_bytes,
            "energy_j": self.energy_limit(budget),
        }

    def decide(self, budget: Budget) -> Decision:
        """Return the Decision for ``budget``, or raise BudgetError naming the tightest budget some width meets."""
        limits = self._limits(budget)
        fits = [p for p in self.points if all(p[k] <= limit for k, limit in limits.items())]
        if not fits:
            raise BudgetError(self._why_not(budget, limits))
        best = max(fits, key=lambda p: (p["accuracy"], -p["width"]))  # ties: the cheaper width
        cost = self.widest["accuracy"] - best["accuracy"]
        summary = (
            f"battery {100 * budget.battery:.0f} %: runs at width {best['width']:g}, "
            f"{best['latency_ms']:.3g} ms, accuracy {best['accuracy']:.1f} % ({-cost:+.1f} points vs full)"
        )
        return Decision(
            best["width"], best["accuracy"], best["latency_ms"], best["memory_bytes"], best["energy_j"], cost, summary
        )

    def pick(self, budget: Budget) -> float:
        """Return the width multiplier of the most accurate operating point that fits every limit of ``budget``."""
        return self.decide(budget).width

    def _why_not(self, budget: Budget, limits: dict[str, float]) -> str:
        units = {
            "latency_ms": ("latency", "ms", "fastest"),
            "memory_bytes": ("memory", "bytes", "smallest"),
            "energy_j": ("energy per inference", "J", "most frugal"),
        }
        for key, limit in limits.items():
            need = min(self.points, key=lambda p: p[key])
            if need[key] > limit:
                what, unit, best = units[key]
                fix = f"raise the budget to at least {need[key]:.3g} {unit}"
                if key == "energy_j" and limit < budget.energy_j:  # the battery set this limit
                    charge = BATTERY_FULL_POWER * need[key] / self.widest["energy_j"]
                    fix = f"charge the battery to at least {100 * charge:.0f} %"
                return (
                    f"no width fits {what} <= {limit:.3g} {unit}; the {best} (w={need['width']:g}) needs "
                    f"{need[key]:.3g} {unit}: {fix}"
                )
        return (
            "no single width meets every limit at once (each is met by some width): relax one of them; "
            f"the points are {[(p['width'], round(p['latency_ms'], 3), p['memory_bytes']) for p in self.points]}"
        )


def plot_points(controller: Controller, picked: float | None = None) -> go.Figure:
    """Return accuracy against latency of every operating point, the picked width highlighted."""
    pts = controller.points
    fig = go.Figure(
        go.Scatter(
            x=[p["latency_ms"] for p in pts],
            y=[p["accuracy"] for p in pts],
            mode="lines+markers+text",
            text=[point_name(p["width"]) for p in pts],
            textposition="top center",
            name="operating points",
            marker={
                "size": [18 if p["width"] == picked else 10 for p in pts],
                "color": [plots._colour(1) if p["width"] == picked else plots._colour(0) for p in pts],
            },
        )
    )
    fig.update_layout(
        xaxis_title=f"{controller.latency_metric} (ms)",
        yaxis_title="test accuracy (%)",
        height=360,
        title="One network, several operating points" + (f": runs at w={picked:g}" if picked else ""),
    )
    return fig


def battery_day(
    busy_latency_ms: float, latency_ms: float = math.inf, hours: int = 24, busy: Sequence[int] = (8, 9, 12, 18, 19)
) -> list[Budget]:
    """Return one Budget per hour: the battery drains from 100 % to 5 %; busy hours leave less time per inference."""
    return [
        Budget(latency_ms=busy_latency_ms if h in busy else latency_ms, battery=1 - 0.95 * h / max(hours - 1, 1))
        for h in range(hours)
    ]


def simulate(controller: Controller, budgets: Sequence[Budget]) -> tuple[list[Decision | None], go.Figure]:
    """Return the controller's decision for each budget in turn (None where nothing fits) and a line chart of them."""
    decisions: list[Decision | None] = []
    for budget in budgets:
        try:
            decisions.append(controller.decide(budget))
        except BudgetError:
            decisions.append(None)
    steps = list(range(len(budgets)))
    fig = go.Figure()
    fig.add_scatter(
        x=steps, y=[d.width if d else None for d in decisions], mode="lines+markers", name="width", line_shape="hv"
    )
    fig.add_scatter(x=steps, y=[b.battery for b in budgets], name="battery charge", line={"dash": "dot"})
    fig.add_scatter(x=steps, y=[d.accuracy if d else None for d in decisions], name="accuracy (%)", yaxis="y2")
    fig.update_layout(
        xaxis_title="step (hour)",
        yaxis={"title": "width / charge", "range": [0, 1.05]},
        height=360,
        yaxis2={"title": "accuracy (%)", "overlaying": "y", "side": "right"},
        title="The controller switches width as the battery drains and the load changes",
    )
    return decisions, fig


class BudgetExplorer(Explorer):
    """Move the latency, memory and battery budgets: the controller's pick is highlighted among the points."""

    def __init__(self, profile_report: Report):
        import ipywidgets as w

        self.controller = Controller(profile_report)
        pts = self.controller.points
        fastest, slowest = min(p["latency_ms"] for p in pts), max(p["latency_ms"] for p in pts)
        most = max(p["memory_bytes"] for p in pts) / 1e3
        self.latency = w.FloatSlider(
            value=round(1.2 * slowest, 3),
            min=round(0.5 * fastest, 3),
            max=round(1.2 * slowest, 3),
            step=round(fastest / 10, 4) or 0.001,
            readout_format=".3f",
            description="latency ms",
        )
        self.memory = w.FloatSlider(
            value=round(1.1 * most), min=1.0, max=round(1.1 * most), step=1.0, description="memory kB"
        )
        self.battery = w.IntSlider(value=100, min=0, max=100, description="battery %")
        self.summary = w.Label()
        self.output = w.Output()
        self.result: Decision | None = None
        for control in (self.latency, self.memory, self.battery):
            control.observe(lambda _change: self.run(), names="value")
        self.widget = w.VBox([w.HBox([self.latency, self.memory]), self.battery, self.summary, self.output])

    def budget(self) -> Budget:
        """Return the Budget the sliders describe now."""
        return Budget(
            latency_ms=self.latency.value, memory_bytes=1e3 * self.memory.value, battery=self.battery.value / 100
        )

    def run(self) -> Decision | None:
        """Ask the controller for the sliders' budget, redraw, and return its Decision (None when nothing fits)."""
        try:
            self.result = self.controller.decide(self.budget())
            self.summary.value = self.result.summary
        except BudgetError as err:
            self.result, self.summary.value = None, str(err)
        self.redraw(plot_points(self.controller, self.result.width if self.result else None))
        return self.result

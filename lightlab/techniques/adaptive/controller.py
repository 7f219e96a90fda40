"""A controller that runs an adaptive model at the operating point its resource budget allows.

``Controller(slimmable.profile(model, task)).pick(ResourceBudget(latency_ms=..., memory_bytes=..., battery=...))``
returns the most accurate width that meets every limit, and raises naming the tightest feasible budget when none
does. ``battery_day`` and ``simulate`` show it switching as a battery drains; its figures and its widget,
``ControllerExplorer``, are in ``ll.views.controller``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lightlab.measurement.report import Report

# Battery -> energy budget: at or above this charge the widest model may run; below it the energy allowed per
# inference shrinks in proportion (20 % charge allows 40 % of the widest model's energy per inference).
BATTERY_FULL_POWER = 0.5


def _check_limit(name: str, value: float, unit: str, example: str) -> None:
    if math.isnan(value) or value <= 0:
        raise ValueError(
            f"{name} must be a positive number of {unit} (math.inf for no limit), got {value}; e.g. {name}={example}"
        )


@dataclass(frozen=True)
class ResourceBudget:
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
    """Picks the most accurate operating point of a ``profile`` Report that meets every limit of a budget."""

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
        # Latencies that other programs disturbed are still the best measured, but a pick made on them says so.
        self.disturbed = bool(profile_report.disturbed(latency))

    def energy_limit(self, budget: ResourceBudget) -> float:
        """Return the energy per inference ``budget`` allows (J): its own cap and the battery's, whichever is less."""
        from_battery = (
            self.widest["energy_j"] * budget.battery / BATTERY_FULL_POWER
            if budget.battery < BATTERY_FULL_POWER
            else math.inf
        )
        return min(budget.energy_j, from_battery)

    def _limits(self, budget: ResourceBudget) -> dict[str, float]:
        return {
            "latency_ms": budget.latency_ms,
            "memory_bytes": budget.memory_bytes,
            "energy_j": self.energy_limit(budget),
        }

    def decide(self, budget: ResourceBudget) -> Decision:
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
            + (
                " — latencies disturbed by other programs: rerun the profile on a quiet machine"
                if self.disturbed
                else ""
            )
        )
        return Decision(
            best["width"], best["accuracy"], best["latency_ms"], best["memory_bytes"], best["energy_j"], cost, summary
        )

    def pick(self, budget: ResourceBudget) -> float:
        """Return the width multiplier of the most accurate operating point that fits every limit of ``budget``."""
        return self.decide(budget).width

    def _why_not(self, budget: ResourceBudget, limits: dict[str, float]) -> str:
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


def battery_day(
    busy_latency_ms: float, latency_ms: float = math.inf, hours: int = 24, busy: Sequence[int] = (8, 9, 12, 18, 19)
) -> list[ResourceBudget]:
    """Return one ResourceBudget per hour: the battery drains from 100 % to 5 %; busy hours leave less time per
    inference."""
    return [
        ResourceBudget(
            latency_ms=busy_latency_ms if h in busy else latency_ms, battery=1 - 0.95 * h / max(hours - 1, 1)
        )
        for h in range(hours)
    ]


def simulate(controller: Controller, budgets: Sequence[ResourceBudget]) -> list[Decision | None]:
    """Return the controller's decision for each budget in turn (None where nothing fits)."""
    decisions: list[Decision | None] = []
    for budget in budgets:
        try:
            decisions.append(controller.decide(budget))
        except BudgetError:
            decisions.append(None)
    return decisions

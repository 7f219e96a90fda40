"""Tests for lightlab.techniques.adaptive.controller: budgets, the pick, the refusals, a simulated day."""

import math

import pytest

import lightlab as ll
from lightlab.techniques.adaptive import controller as ctl
from lightlab.techniques.adaptive.slimmable import point_name


def hand_profile() -> ll.Report:
    """Four operating points made by hand: accuracy rises with width, so do latency, memory and energy."""
    report = ll.Report()
    for w, acc, ms, kb, mj in [
        (0.25, 95.0, 0.1, 300, 0.05),
        (0.5, 97.0, 0.2, 1200, 0.2),
        (0.75, 98.0, 0.3, 2600, 0.45),
        (1.0, 98.2, 0.4, 4600, 0.8),
    ]:
        name = point_name(w)
        report.add(name, "width", w, "x", "by hand").add(name, "accuracy", acc, "%", "by hand")
        report.add(name, "latency_p50_b1", ms, "ms", "by hand").add(name, "peak_memory", kb * 1e3, "bytes", "by hand")
        report.add(name, "energy_modelled_per_inference", mj * 1e-3, "J", "modelled (by hand)")
    return report


def test_controller_picks_the_most_accurate_point_that_fits_every_budget():
    c = ctl.Controller(hand_profile())
    assert c.pick(ctl.ResourceBudget()) == 1.0
    assert c.pick(ctl.ResourceBudget(latency_ms=0.35)) == 0.75
    assert c.pick(ctl.ResourceBudget(latency_ms=0.35, memory_bytes=2e6)) == 0.5
    assert c.pick(ctl.ResourceBudget(latency_ms=0.2)) == 0.5  # a limit equal to a point's cost fits
    # battery 20 % allows 40 % of the widest width's 0.8 mJ = 0.32 mJ: w=0.5 (0.2 mJ)
    assert c.energy_limit(ctl.ResourceBudget(battery=0.2)) == pytest.approx(0.32e-3)
    decision = c.decide(ctl.ResourceBudget(battery=0.2))
    assert decision.width == 0.5 and decision.accuracy_cost == pytest.approx(1.2)
    assert "battery 20 %: runs at width 0.5" in decision.summary and "-1.2 points" in decision.summary
    assert c.pick(ctl.ResourceBudget(battery=0.6)) == 1.0 and c.pick(ctl.ResourceBudget(energy_j=0.1e-3)) == 0.25


def test_an_impossible_budget_names_the_tightest_feasible_one():
    c = ctl.Controller(hand_profile())
    with pytest.raises(
        ctl.BudgetError,
        match=r"latency <= 0.01 ms; the fastest \(w=0.25\) needs 0.1 ms: raise the "
        r"budget to at least 0.1 ms",
    ):
        c.pick(ctl.ResourceBudget(latency_ms=0.01))
    with pytest.raises(ctl.BudgetError, match=r"memory .* at least 3e\+05 bytes"):
        c.pick(ctl.ResourceBudget(memory_bytes=1000))
    with pytest.raises(ctl.BudgetError, match="charge the battery to at least 3 %"):
        c.pick(ctl.ResourceBudget(battery=0.01))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latency_ms": -1}, "latency_ms must be a positive"),
        ({"memory_bytes": math.nan}, "memory_bytes must be"),
        ({"battery": 1.5}, r"battery must be a charge in \[0, 1\], got 1.5; write 20 % as 0.2"),
        ({"battery": math.nan}, "battery must be"),
        ({"energy_j": 0}, "energy_j must be"),
    ],
)
def test_bad_budgets_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ctl.ResourceBudget(**kwargs)


def test_a_pick_made_on_disturbed_timings_says_so():
    report = hand_profile()
    assert "disturbed" not in ctl.Controller(report).decide(ctl.ResourceBudget()).summary
    for row in report.rows:
        if row["metric"] == "latency_p50_b1":
            row["note"] = "disturbed: other processes used 1.5 cores while timing; rerun on a quiet machine"
    summary = ctl.Controller(report).decide(ctl.ResourceBudget()).summary
    assert summary.startswith("battery 100 %: runs at width 1") and "disturbed by other programs" in summary


def test_a_report_without_latency_is_refused():
    with pytest.raises(ValueError, match="no latency_p50_b"):
        ctl.Controller(ll.Report())


def test_simulation_switches_width_as_the_battery_drains():
    decisions = ctl.simulate(ctl.Controller(hand_profile()), ctl.battery_day(busy_latency_ms=0.15))
    widths = [d.width if d else None for d in decisions]
    assert len(widths) == 24 and widths[0] == 1.0 and widths[8] == 0.25 and widths[-1] == 0.25
    with_nothing = ctl.simulate(ctl.Controller(hand_profile()), [ctl.ResourceBudget(latency_ms=0.01)])
    assert with_nothing == [None]

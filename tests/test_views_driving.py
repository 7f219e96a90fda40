"""ll.views.driving: the scan and drive pictures, the deadline and drive explorers, the speed-sweep panels."""

import pytest
from _figures import problems

import lightlab as ll
from lightlab.applications import driving
from lightlab.data import lidar
from lightlab.face.views import driving as driving_views


@pytest.fixture(scope="module")
def small():
    return ll.zoo.pretrained("lidar-small")


def test_explorers_follow_their_controls(small):
    timings = {"small": ll.measure.Timing([0.05, 0.06], 0, 1, 1), "slow": ll.measure.Timing([0.3, 0.45], 0, 1, 1)}
    deadline = driving_views.DeadlineExplorer(timings)
    deadline.device.value = 100.0
    assert deadline.result.value("slow", "late_share") == 0  # 30-45 ms (x100 assumed) at 10 scans per second
    deadline.rate.value = 25
    assert deadline.result.value("slow", "late_share") == 50 and "is <b>over</b>" in deadline.summary.value
    assert deadline.result.value("small", "late_share") == 0
    explorer = driving_views.DriveExplorer({"small": small}, {"small": timings["small"]}, duration_s=3)
    explorer.speed.value = 1.0
    runs = explorer.result
    assert len(runs) == 2 and {(r.config.speed, r.config.slowdown) for r in runs.values()} == {(1.0, driving.CORTEX_M4)}
    assert "bumps" in explorer.summary.value
    assert driving_views.plot_scan(lidar.held_out_world(0), (1.0, 1.0, 0.0)).data
    assert deadline.summary is deadline.widget.children[-2] and deadline.widget.children[-1] is deadline.output
    assert "Disturbed" not in deadline.summary.value
    busy = {"small": ll.measure.Timing([0.05, 0.06], 0, 1, 1, foreign_cores=1.0)}
    flagged = driving_views.DeadlineExplorer(busy)
    flagged.run()
    assert "Disturbed timing (small)" in flagged.summary.value and "(disturbed)" in flagged.summary.value


def test_drive_paths_keep_the_legend_off_the_axis(small):
    runs = {"small": driving.drive(driving.model_policy(small), lidar.held_out_world(0), 0.05)}
    fig = driving_views.plot_drives(lidar.held_out_world(0), runs)
    assert fig.layout.legend.y >= 1 and problems(fig.to_plotly_json()) == []


def test_speed_sweep_draws_a_panel_per_metric_and_instant_runs_dotted():
    report = ll.Report()
    for name in ("small", "small, instant answers"):
        for speed in (0.5, 1.0):
            for metric in ("collisions", "emergency_stops", "distance"):
                report.add(name, f"{metric} at {speed:g} m/s", speed, "count", "a test")
    fig = driving_views.plot_speed_sweep(report, (0.5, 1.0))
    assert fig.layout.annotations[1].text == "emergency stops (count)"
    assert len(fig.data) == 6 and [t.line.dash for t in fig.data[::3]] == ["solid", "dot"]
    assert sum(t.showlegend for t in fig.data) == 2 and problems(fig.to_plotly_json()) == []

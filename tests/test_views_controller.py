"""Tests for lightlab.face.views.controller: the explorer follows the controller; the figures draw its points."""

from test_controller import hand_profile

from lightlab.face.views import controller as views
from lightlab.techniques.adaptive import controller as ctl


def test_explorer_follows_the_controller():
    explorer = views.ControllerExplorer(hand_profile())
    assert explorer.run().width == 1.0
    explorer.battery.value = 20
    assert explorer.result.width == 0.5 and explorer.summary.value.startswith("battery 20 %: runs at width 0.5")
    explorer.latency.value = explorer.latency.min
    assert explorer.result is None and "raise the budget" in explorer.summary.value


def test_figures_draw_the_points_and_the_day():
    controller = ctl.Controller(hand_profile())
    fig = views.plot_points(controller, picked=0.5)
    assert list(fig.data[0].text) == ["w=0.25", "w=0.5", "w=0.75", "w=1"] and "w=0.5" in fig.layout.title.text
    assert fig.layout.xaxis.title.text == "latency p50, batch 1 (ms)"  # words, not latency_p50_b1
    assert fig.layout.yaxis.range[1] > 98.2 + 0.5  # room above the most accurate point for its label
    day = ctl.battery_day(busy_latency_ms=0.15)
    fig = views.plot_simulation(day, ctl.simulate(controller, day))
    assert [t.name for t in fig.data] == ["width", "battery charge", "accuracy (%)"] and len(fig.data[0].x) == 24
    right = fig.layout.yaxis2
    assert right.dtick in (0.1, 0.2, 0.5, 1, 2, 5, 10) and all(
        round(v / right.dtick, 6).is_integer() for v in right.range
    )
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y > 1  # not over the right-hand axis

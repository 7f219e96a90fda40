"""Tests for lightlab.face.views.early_exit: the trade-off and exit-share figures and the threshold explorer."""

import time

import pytest
from _figures import problems

import lightlab as ll
from lightlab.face.views import early_exit as views
from lightlab.techniques.adaptive import early_exit as ee
from lightlab.techniques.adaptive import slimmable as sl


@pytest.fixture(scope="module")
def report(digits):
    model = ee.exit_cnn((1, 8, 8), 10)
    ee.train_exits_(model, ee.ExitConfig(epochs=2), task=digits, progress=False)
    slim = sl.slim_cnn((1, 8, 8), 10)
    others = {sl.point_name(w): sl.AtWidth(slim, w) for w in (0.25, 1.0)}
    return ee.sweep(model, digits, (0.0, 0.5, 0.9, 1.01), others=others, inputs=30, rounds=2)


def test_tradeoff_draws_the_thresholds_beside_the_other_models(report):
    fig = views.plot_tradeoff(report, picked="t=0.9")
    line, others = fig.data
    assert list(line.text) == ["t=0", "t=0.5", "t=0.9", "t=1.01"] and list(others.text) == [
        "full network",
        "w=0.25",
        "w=1",
    ]
    assert line.marker.size[2] > line.marker.size[0]  # the picked threshold stands out
    assert line.x[0] == pytest.approx(1e3 * report.value("t=0", ee.LATENCY))  # ms stored, µs drawn
    assert fig.layout.xaxis.title.text == "latency per input, batch 1 (µs, measured)"
    assert fig.layout.yaxis.title.text == "test accuracy (%)" and fig.layout.title.text
    assert problems(fig.to_plotly_json()) == []


def test_exit_shares_stack_to_one_hundred(report):
    fig = views.plot_exit_shares(report)
    assert [bar.name for bar in fig.data] == ["exit 0", "exit 1", "exit 2"] and fig.layout.barmode == "stack"
    for i in range(4):
        assert sum(bar.y[i] for bar in fig.data) == pytest.approx(100)
    assert problems(fig.to_plotly_json()) == []


def test_explorer_answers_from_the_precomputed_sweep_quickly(report):
    explorer = views.ThresholdExplorer(report)
    assert explorer.threshold.value == "t=0.9" and explorer.threshold.continuous_update is False
    explorer.run()
    assert explorer.result.startswith("threshold 0.9: accuracy")
    start = time.perf_counter()
    explorer.threshold.value = "t=0"
    assert time.perf_counter() - start < 1.5  # nothing is trained or timed again
    assert "100 % at exit 0" in explorer.summary.value and explorer.result == explorer.summary.value
    assert "full network's (measured)" in explorer.result or "not measurable now" in explorer.result
    with pytest.raises(ValueError, match="no early-exit thresholds"):
        views.ThresholdExplorer(ll.Report().add("w=1", "accuracy", 90, "%", "m"))

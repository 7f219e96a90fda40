"""ll.views.screening: the example windows and the alarm-threshold explorer."""

import pytest
from _figures import problems

import lightlab as ll
from lightlab.data import ecg
from lightlab.face.views import screening as screening_views


@pytest.fixture(scope="module")
def task():
    return ll.load("ecg")


def test_examples_show_one_window_of_each_rhythm(task):
    fig = screening_views.plot_rhythm_examples(task)
    assert len(fig.data) == len(ecg.RHYTHMS) and all(len(trace.y) == ecg.WINDOW for trace in fig.data)
    assert "synthetic patient" in fig.layout.annotations[0].text and problems(fig.to_plotly_json()) == []


def test_threshold_explorer_trades_sensitivity_for_specificity(task):
    models = {"large": ll.zoo.pretrained("ecg-large"), "small": ll.zoo.pretrained("ecg-small")}
    explorer = screening_views.ThresholdExplorer(models, task, split="val")
    explorer.threshold.value = 0.05
    low = explorer.result
    explorer.threshold.value = 0.95
    high = explorer.result
    assert explorer.runs == 2
    for name in models:
        assert low.value(name, "sensitivity") >= high.value(name, "sensitivity")
        assert low.value(name, "specificity") <= high.value(name, "specificity")
    assert "false alarms a day" in explorer.summary.value
    assert explorer.widget.children[-1] is explorer.output and explorer.summary is explorer.widget.children[-2]

"""ll.views.anomaly: the alarm curves and the alarm explorer, on the real shuttle data."""

import numpy as np
import pytest
from _figures import problems

from lightlab.applications import anomaly
from lightlab.face.views import anomaly as anomaly_views


def test_alarm_curves_draw_rates_and_per_day_figures(shuttle, shuttle_small):
    curve = anomaly.threshold_curve(*anomaly.anomaly_scores(shuttle_small, shuttle, "val"), points=11)
    fig = anomaly_views.plot_alarm_curves(curve, threshold=0.0)
    names = [trace.name for trace in fig.data]
    assert names == ["sensitivity", "specificity", "false alarms per day", "missed per day", "cost per day"]
    assert fig.layout.yaxis2.type == "log" and fig.layout.shapes[0].x0 == 0.0
    assert not np.any(np.asarray(fig.data[2].y) == 0)  # zeros become gaps on the log axis
    assert problems(fig.to_plotly_json()) == []


def test_explorer_recounts_alarms_on_every_control(shuttle, shuttle_small, shuttle_forest):
    explorer = anomaly_views.AlarmExplorer({"small": shuttle_small, "forest": shuttle_forest}, shuttle)
    first = explorer.run()
    assert explorer.threshold.value == 0.0 and "small" in explorer.summary.value
    explorer.threshold.value = explorer.threshold.max
    assert explorer.runs == 2 and explorer.result["sensitivity"] < first["sensitivity"]
    assert explorer.result["false_alarms"] <= first["false_alarms"]
    explorer.threshold.value = 0.0
    explorer.rate.value = 10.0
    assert explorer.result["false_alarms_per_day"] == pytest.approx(10 * first["false_alarms_per_day"])
    explorer.cost_missed.value = 10.0
    assert explorer.result["cost_per_day"] == pytest.approx(
        50 * explorer.result["false_alarms_per_day"] + 10 * explorer.result["missed_per_day"]
    )
    runs = explorer.runs
    explorer.model.value = "forest"  # refits the slider to the forest's scores, then reruns once
    assert explorer.runs == runs + 1 and explorer.threshold.max < 5
    assert "forest" in explorer.summary.value and explorer.result["threshold"] == 0.0

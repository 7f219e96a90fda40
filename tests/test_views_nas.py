"""Tests for lightlab.face.views.nas: the search figure (its budget line on the log axis) and the explorer."""

import math

import numpy as np
import pytest

import lightlab as ll
from lightlab.face.views import nas as views
from lightlab.techniques import nas

TINY = nas.Space(kinds=("mlp", "conv"), depths=(0, 1), widths=(8, 16), kernels=(3,))


@pytest.fixture(scope="module")
def searched(digits, tmp_path_factory):
    table = nas.latency_table(TINY, digits, rounds=1)
    cfg = nas.SearchConfig(
        sampler="random", trials=4, epochs=1, seed=3, storage=tmp_path_factory.mktemp("nas") / "e.log"
    )
    result = nas.search(cfg, task=digits, space=TINY, table=table, progress=False)
    ref = nas.compare_with_references({"digits-small": ll.zoo.pretrained("digits-small")}, digits, table, rounds=1)
    return result, ref


def test_the_table_check_figure_speaks_words(searched, digits):
    result, _ = searched
    check = nas.check_table(TINY, digits, result.table, count=3, rounds=1)
    fig = views.plot_table_check(check)
    assert [t.name for t in fig.data] == ["prediction = measurement", "candidates"]
    assert fig.layout.xaxis.title.text == "measured p50 latency, whole model (ms)" and fig.layout.xaxis.type == "log"
    assert "median error" in fig.layout.title.text


def test_figure_and_explorer(searched):
    result, ref = searched
    fig = views.plot_search(result, ref)
    assert {t.name for t in fig.data} >= {"trained candidates", "Pareto front", "digits-small"}
    # the legend sits above the plot: the colorbar of the parameters has the right edge, ticked in plain counts
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y > 1
    colorbar = fig.data[0].marker.colorbar
    assert colorbar.title.text == "parameters" and all(t.replace(",", "").isdigit() for t in colorbar.ticktext)
    assert len(colorbar.ticktext) >= 2  # 1, 2, 5 x 10^k within the data
    explorer = views.NasExplorer(result, ref)
    everything = explorer.run()
    assert everything["feasible"] == 4 and everything["best"] == result.best()
    explorer.latency.value = float(result.trials.latency_ms.min())
    tight = explorer.result
    assert tight["feasible"] >= 1 and np.all(tight["front"].latency_ms <= explorer.latency.value)
    assert "trained candidates fit" in explorer.summary.value


def test_the_budget_label_sits_on_the_budget_line_of_the_log_axis(searched):
    result, _ = searched
    budget = nas.SearchBudget(latency_ms=float(result.trials.latency_ms.median()))
    fig = views.plot_search(result, budget=budget)
    assert fig.layout.xaxis.type == "log"
    (line,) = fig.layout.shapes
    (label,) = fig.layout.annotations
    assert line.x0 == line.x1 == budget.latency_ms  # a shape takes data units on a log axis
    # an annotation takes log10 units: given the raw latency it would sit at 10**latency and stretch the axis
    assert label.x == pytest.approx(math.log10(budget.latency_ms)) and label.text == "latency budget"
    low, high = np.log10(result.trials.latency_ms.min()), np.log10(result.trials.latency_ms.max())
    assert low - 1 <= label.x <= high + 1

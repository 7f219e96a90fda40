"""Tests for lightlab.face.views.nas: the search figure (families, the front, the budget on the log axis) and the
explorer that filters the front by budget."""

import math

import numpy as np
import pytest

import lightlab as ll
from lightlab.face.views import nas as views
from lightlab.techniques import nas, nas_latency
from lightlab.techniques.nas_space import Space

TINY = Space(kinds=("conv", "dwsep"), depths=(0, 1), widths=(8, 16), kernels=(3,), heads=("flatten",), hidden=(0, 8))


@pytest.fixture(scope="module")
def searched(digits, tmp_path_factory):
    with ll.config.using_threads(1):
        table = nas_latency.latency_table(TINY, digits, rounds=1)
    cfg = nas.SearchConfig(sampler="random", trials=6, batch=3, epochs=1, seed=3)
    path = tmp_path_factory.mktemp("nas") / "e.jsonl"
    result = nas.search(cfg, task=digits, space=TINY, table=table, path=path, workers=1, progress=False)
    ref = nas.compare_with_references({"digits-small": ll.zoo.pretrained("digits-small")}, digits, table, rounds=1)
    return result, ref


def test_the_table_check_figure_speaks_words(searched, digits):
    result, _ = searched
    check = nas_latency.check_table(TINY, digits, result.table, count=3, rounds=1)
    fig = views.plot_table_check(check)
    assert [t.name for t in fig.data] == ["prediction = measurement", "candidates"]
    assert fig.layout.xaxis.title.text == "measured p50 latency, whole model (ms)" and fig.layout.xaxis.type == "log"
    assert "median error" in fig.layout.title.text


def test_the_search_figure_shows_families_the_front_and_references(searched):
    result, ref = searched
    fig = views.plot_search(result, ref)
    names = [t.name for t in fig.data]
    families = [n for n in names if n in views.FAMILIES]
    assert families == [f for f in views.FAMILIES if f in set(result.trials.family)]  # one trace per family
    assert "Pareto front (accuracy, latency, parameters)" in names and "digits-small" in names
    assert "front within the budget" not in names  # no budget, nothing marked
    assert sum(len(fig.data[names.index(f)].x) for f in families) == len(result.trials)
    front = fig.data[names.index("Pareto front (accuracy, latency, parameters)")]
    assert sorted(front.text) == sorted(result.front().name)
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y > 1  # above the plot, readable
    assert fig.layout.xaxis.type == "log" and "batch 1" in fig.layout.xaxis.title.text
    assert (
        fig.layout.title.text
        == f"{len(result.trials)} trained candidates, {len(result.front())} on the Pareto front (ringed)"
    )
    # a marker grows with the parameters
    sizes = views._sizes(result.trials.params)
    assert np.all(np.diff(sizes[np.argsort(result.trials.params.to_numpy())]) >= 0)


def test_the_budget_marks_the_front_within_it_and_its_line_sits_on_the_log_axis(searched):
    result, _ = searched
    budget = nas.SearchBudget(latency_ms=float(result.front().latency_ms.median()))
    fig = views.plot_search(result, budget=budget)
    fits = next(t for t in fig.data if t.name == "front within the budget")
    assert sorted(fits.text) == sorted(nas.within(result.front(), budget).name)
    assert fig.layout.title.text.endswith(f", {len(fits.text)} of them within the budget")
    (line,) = fig.layout.shapes
    (label,) = fig.layout.annotations
    assert line.x0 == line.x1 == budget.latency_ms  # a shape takes data units on a log axis
    # an annotation takes log10 units: given the raw latency it would sit at 10**latency and stretch the axis
    assert label.x == pytest.approx(math.log10(budget.latency_ms)) and label.text == "latency budget"


def test_the_explorer_refilters_the_front_without_training(searched):
    result, ref = searched
    explorer = views.NasExplorer(result, ref)
    everything = explorer.run()
    assert len(everything["fits"]) == len(result.front()) and everything["best"] == result.best()
    explorer.params.value = float(result.front().params.min())
    tight = explorer.result
    assert len(tight["fits"]) >= 1 and np.all(tight["fits"].params <= explorer.params.value)
    assert tight["best"] == result.best(tight["budget"])
    assert "points fit; the winner" in explorer.summary.value

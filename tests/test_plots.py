"""Plots drawn from Reports: a panel per metric, titles in words, log axes for costs."""

from lightlab.face import plots
from lightlab.measurement import measure


def test_plot_has_a_panel_per_metric(digits, zoo_models):
    report = measure.measure(zoo_models, digits, batch_sizes=(1,), repeats=3)
    fig = plots.report_bars(report, ["accuracy", "size", "latency_p50_b1"])
    assert len(fig.data) == 3 and list(fig.data[1].x) == ["large", "small"]
    assert fig.layout.yaxis2.type == "log" and fig.layout.yaxis.type == "linear"
    titles = [a.text.replace("<br>", " ") for a in fig.layout.annotations]
    assert titles == ["accuracy (%)", "size on disk (bytes)", "latency p50, batch 1 (ms)"]


def test_tradeoff_axes_name_the_metric_and_unit(digits, zoo_models):
    report = measure.measure(zoo_models, digits, batch_sizes=(1,), repeats=3)
    fig = plots.tradeoff(report)
    assert fig.layout.xaxis.title.text == "latency p50, batch 1 (ms)" and fig.layout.yaxis.title.text == "accuracy (%)"

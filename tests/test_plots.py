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


def test_energy_panels_say_how_their_numbers_were_obtained():
    from lightlab.measurement.report import Report

    report = Report()
    for model, joules in (("large", 2e-3), ("small", 1e-5)):
        report.add(model, "energy_modelled_per_inference", joules, "J", "modelled (mcu, nRF52840 datasheet + eFlash)")
        report.add(model, "energy_per_inference", 10 * joules, "J", "estimated (CodeCarbon cpu_load, whole machine, "
                   "8 W TDP fallback; RAM constant 20 W), median of 3 windows >= 0.6 s")  # fmt: skip
        report.add(model, "battery_days (above idle)", 1 / joules, "days", "2 Wh / J; the J: estimated (CodeCarbon x)")
    fig = plots.report_bars(
        report, ["energy_modelled_per_inference", "energy_per_inference", "battery_days (above idle)"]
    )
    titles = [a.text.replace("<br>", " ") for a in fig.layout.annotations]
    assert titles == [
        "energy per inference (J), modelled (mcu)",  # the profile; its source is in the hover
        "energy per inference (J), estimated (CodeCarbon)",
        "battery days (above idle) (days), estimated (CodeCarbon)",
    ]
    assert plots.method_head("measured (RAPL via CodeCarbon; RAM constant 5 W)") == "measured (RAPL)"
    report.add("cascade", "energy_modelled_per_inference", 1e-4, "J", "modelled (server, Horowitz 2014, 45 nm)")
    title = plots.report_bars(report, ["energy_modelled_per_inference"]).layout.annotations[0].text
    assert title.replace("<br>", " ") == "energy per inference (J), modelled (differs by bar: see hover)"

"""Report: rows with their method, a table a student can read, a before/after view, and exports."""

import math

import pytest

import lightlab as ll
from lightlab.face import plots
from lightlab.measurement import measure


def test_report_exports(tmp_path, digits, zoo_models):
    report = measure.measure(zoo_models, digits, batch_sizes=(1,), repeats=3)
    report.add("small", "energy_per_inference", math.nan, "J", "unavailable: test")
    csv = report.to_csv(tmp_path / "r.csv").read_text()
    assert csv.splitlines()[0].startswith("model,metric,value,unit,method")
    back = ll.Report.from_json(report.to_json(tmp_path / "r.json"))
    assert back.value("large", "params") == report.value("large", "params")
    assert math.isnan(back.value("small", "energy_per_inference"))
    html = report.to_html(tmp_path / "r.html", figures=[plots.report_bars(report)]).read_text()
    assert "cdn" not in html.lower().split("<body>")[0] and "plotly" in html and len(html) > 1_000_000
    assert report.frame(wide=True).loc[("params", "count"), "small"] == 2410
    with pytest.raises(IsADirectoryError, match="is a folder"):
        report.to_csv(tmp_path)


def test_report_refuses_rows_without_method():
    with pytest.raises(ValueError, match="no method"):
        ll.Report().add("m", "energy", 1.0, "J", "")


def test_report_value_error_lists_what_exists():
    report = ll.Report().add("m", "size", 1, "bytes", "x")
    with pytest.raises(KeyError, match="no 'speed'.*size"):
        report.value("m", "speed")


def _pair() -> ll.Report:
    report = ll.Report()
    for name, acc, size, ms, idle in [
        ("large", 98.333, 4_518_000, 0.246, 4.4e-4),
        ("small", 97.5, 11_900, 0.0136, -2.84e-5),
    ]:
        report.add(name, "accuracy", acc, "%", "test split")
        report.add(name, "size", size, "bytes", "torch.save")
        report.add(name, "latency_p50_b1", ms, "ms", "wall clock")
        report.add(name, "energy_above_idle_per_inference", idle, "J", "estimated")
        report.add(name, "idle", math.nan, "W", "not measured")
    return report


def test_table_reads_in_human_units_without_empty_rows_or_e_notation():
    table = _pair().table()
    assert list(table.columns) == ["large", "small"]
    assert table.loc["accuracy"].tolist() == ["98.3 %", "97.5 %"]
    assert table.loc["size on disk"].tolist() == ["4.52 MB", "11.9 kB"]
    assert table.loc["latency p50, batch 1"].tolist() == ["246 µs", "13.6 µs"]
    assert table.loc["energy above idle per inference (estimated)"].tolist() == ["440 µJ", "below idle (noise)"]
    assert "e-" not in table.to_string() and "e+" not in table.to_string()


def test_table_drops_a_column_with_nothing_in_it():
    report = _pair().add("empty", "idle", math.nan, "W", "not measured")
    assert "empty" not in report.table().columns


def test_versus_gives_before_after_and_ratio():
    table = _pair().versus("large", ["accuracy", "size", "latency_p50_b1"])
    assert list(table.columns) == ["large", "small", "small / large"]
    assert table.loc["size on disk", "small / large"] == "0.00263× (1/380)"
    assert table.loc["accuracy", "small / large"] == "0.992×"
    with pytest.raises(KeyError, match="no model 'medium'"):
        _pair().versus("medium")
    with pytest.raises(KeyError, match="no rows for 'speed'"):
        _pair().versus("large", ["speed"])


def test_a_disturbed_timing_gives_no_ratio():
    report = _pair()
    report.rows[2]["note"] = "disturbed: other processes used 1.0 cores while timing"
    table = report.versus("large", ["latency_p50_b1"])
    assert table.loc["latency p50, batch 1", "large"] == "246 µs (disturbed)"
    assert table.loc["latency p50, batch 1", "small / large"] == "not measurable now (disturbed)"


def test_extend_takes_row_dicts_through_add_with_one_schema():
    row = {"model": "m", "metric": "energy_modelled_per_inference", "value": 1e-6, "unit": "J", "method": "modelled",
           "note": "fp32: compute 3%", "macs": 10}  # fmt: skip
    report = ll.Report().extend([row])
    assert report.rows == [{k: v for k, v in row.items() if k != "macs"}]
    with pytest.raises(ValueError, match="no method"):
        ll.Report().extend([{**row, "method": ""}])


def test_disturbed_rows_can_be_picked_by_metric_and_model():
    report = _pair()
    report.rows[2]["note"] = "disturbed: other processes used 1.0 cores while timing"
    assert report.disturbed() == [report.rows[2]]
    assert report.disturbed(["latency_p50_b1"], ["large"]) == [report.rows[2]]
    assert report.disturbed(["latency_p50_b1"], ["small"]) == [] and report.disturbed(["size"]) == []


def test_an_interval_travels_with_its_value(tmp_path):
    report = ll.Report().add("student, KD", "KD gain", 1.2, "points", "mean over seeds", interval=(0.3, 2.1))
    report.add("student, KD", "accuracy", 97.2, "%", "test split")
    assert report.interval("student, KD", "KD gain") == (0.3, 2.1)
    assert report.interval("student, KD", "accuracy") is None
    assert report.table().loc["KD gain", "student, KD"] == "1.20 points (95 % interval 0.3 .. 2.1)"
    again = ll.Report.from_json(report.to_json(tmp_path / "r.json"))
    assert again.interval("student, KD", "KD gain") == (0.3, 2.1)
    assert ll.Report().extend(report.rows).interval("student, KD", "KD gain") == (0.3, 2.1)
    with pytest.raises(KeyError, match="no 'latency'"):
        report.interval("student, KD", "latency")

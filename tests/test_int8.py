import pytest
import torch

import lightlab as ll
from lightlab.techniques.int8 import benchmark, calibration_inputs


def test_calibration_comes_from_a_task_a_loader_or_a_tensor(digits):
    assert calibration_inputs(digits, 320).shape == (320, 1, 8, 8)
    assert calibration_inputs(digits.test, 100).shape == (100, 1, 8, 8)
    assert calibration_inputs(torch.zeros(10, 3), 320).shape == (10, 3)
    with pytest.raises(TypeError, match="Task, DataLoader or tensor"):
        calibration_inputs([1, 2], 320)


def test_bad_calibration_data_is_named_before_the_export(zoo_models):
    cfg = ll.quantize.QuantConfig(backend="onnxruntime")
    large = zoo_models["large"]
    with pytest.raises(ValueError, match="the calibration data is empty"):
        calibration_inputs(torch.zeros(0, 1, 8, 8), 320)
    nan = torch.full((4, 1, 8, 8), float("nan"))  # ONNX Runtime said "AssertionError: scale issue"
    with pytest.raises(ll.tasks.DataError, match="NaN/infinite"):
        ll.quantize.quantize(large, cfg, example=nan)
    wrong = torch.zeros(4, 3, 32, 32)  # torch.export printed a page of tracer internals
    with pytest.raises(ValueError, match=r"calibration inputs have shape \[3, 32, 32\] per sample, which the model"):
        ll.quantize.quantize(large, cfg, example=wrong)


def test_benchmark_times_side_by_side_and_flags_a_disturbed_speedup(digits, zoo_models, monkeypatch):
    models = {"large": zoo_models["large"], "small": zoo_models["small"]}
    report = benchmark(models, task=digits, batch=8, repeats=3)
    rows = {(r["model"], r["metric"]): r for r in report.rows}
    assert f"best of {ll.measure.ROUNDS} alternating rounds" in rows["small", "latency_p50_b8"]["method"]
    assert rows["large", "speedup"]["value"] == 1.0 and rows["small", "accuracy"]["value"] > 90
    untimed = benchmark(models, example=digits.example(2), timed=False)
    assert not any(r["metric"].startswith(("latency", "speedup")) for r in untimed.rows)

    def disturbed(models, x, rounds=None, repeats=None):
        timings = ll.measure.interleaved(models, x, rounds=1, repeats=2)
        timings["small"].foreign_cores = 2.0  # as if another process had taken two cores
        return timings

    monkeypatch.setattr(ll.int8, "interleaved", disturbed)
    report = benchmark(models, task=digits, batch=8)
    speedup = next(r for r in report.rows if r["model"] == "small" and r["metric"] == "speedup")
    assert speedup["note"].startswith("disturbed")
    assert report.versus("large", ["speedup"]).iloc[0]["small / large"] == "not measurable now (disturbed)"


def test_the_int8_speedup_splits_into_runtime_and_precision(digits, zoo_models):
    model = zoo_models["small"]  # an MLP: ONNX Runtime int8 is dynamic, quick to build
    onnx_fp32 = ll.int8.onnxruntime_fp32(model, digits.example(1))
    assert (
        onnx_fp32.precision == "fp32"
        and abs(ll.train.evaluate(onnx_fp32, digits) - ll.train.evaluate(model, digits)) < 0.003
    )
    int8 = ll.quantize.quantize(model, ll.quantize.QuantConfig(backend="onnxruntime"), task=digits)
    models = {"torch fp32": model, "onnxruntime fp32": onnx_fp32, "onnxruntime int8": int8}
    report = benchmark(models, example=digits.example(8), batch=8, repeats=3)
    split = ll.int8.speedup_split(report, 8, "torch fp32", "onnxruntime fp32", "onnxruntime int8")
    runtime, precision, both = (r["value"] for r in split.rows)
    assert both == pytest.approx(runtime * precision)
    assert both == pytest.approx(report.value("onnxruntime int8", "speedup"))
    assert [r["model"].split(":")[0] for r in split.rows] == ["runtime", "precision", "both"]
    assert "onnxruntime fp32 p50 / onnxruntime int8 p50 at batch 8" in split.rows[1]["method"]
    with pytest.raises(ValueError, match="no latency_p50_b64 row for 'torch fp32', 'onnxruntime fp32'"):
        ll.int8.speedup_split(report, 64, "torch fp32", "onnxruntime fp32", "onnxruntime int8")


def test_a_disturbed_timing_marks_every_ratio_that_uses_it():
    report = ll.Report()
    for name, ms, note in (("a", 10.0, None), ("b", 5.0, "disturbed: other processes"), ("c", 2.0, None)):
        report.add(name, "latency_p50_b1", ms, "ms", "test", note=note)
    split = ll.int8.speedup_split(report, 1, "a", "b", "c")
    assert [r["value"] for r in split.rows] == [2.0, 2.5, 5.0]
    assert [bool(r.get("note")) for r in split.rows] == [True, True, False]

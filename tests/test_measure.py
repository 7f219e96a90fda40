import io
import math

import pytest
import torch
from torch import nn

import lightlab as ll
from lightlab.measurement import measure


def test_report_rows_for_zoo_models(digits, zoo_models):
    report = measure.measure(zoo_models, digits, batch_sizes=(1, 32), repeats=5)
    table = report.frame()
    assert set(table.columns) >= {"model", "metric", "value", "unit", "method"}
    assert table["method"].str.len().min() > 0
    for name in ("large", "small"):
        assert report.value(name, "accuracy") > 95
        assert report.value(name, "latency_p50_b1") > 0
        assert report.value(name, "latency_p90_b32") >= report.value(name, "latency_p50_b32")
        assert report.value(name, "throughput_b32") == pytest.approx(32e3 / report.value(name, "latency_p50_b32"))
    assert report.value("large", "params") == 1_128_714
    assert report.value("small", "macs") == 64 * 32 + 32 * 10
    assert report.environment["torch"] == torch.__version__ and report.environment["cores"] >= 1


def test_size_is_the_serialized_bytes(zoo_models):
    buf = io.BytesIO()
    torch.save(zoo_models["large"].state_dict(), buf)
    assert measure.serialized_size(zoo_models["large"]) == len(buf.getvalue())
    # float32 weights dominate: ~4 bytes per parameter
    assert 4 * 1_128_714 < measure.serialized_size(zoo_models["large"]) < 4 * 1_128_714 + 10_000


def test_macs_of_a_conv_match_the_formula():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert measure.count_macs(conv, torch.rand(1, 3, 10, 10)) == 8 * 10 * 10 * 3 * 3 * 3


def test_peak_memory_counts_weights_and_largest_layer():
    model = nn.Sequential(nn.Linear(100, 1000), nn.ReLU(), nn.Linear(1000, 10))
    weights = 4 * (100 * 1000 + 1000 + 1000 * 10 + 10)
    largest = 4 * (1000 + 1000)  # the ReLU's input and output
    assert measure.peak_memory(model, torch.rand(1, 100)) == weights + largest


def test_any_module_with_an_example_input():
    model = nn.Sequential(nn.Linear(16, 4))
    report = measure.measure({"lin": model}, example=torch.rand(8, 16), batch_sizes=(1, 8), repeats=3)
    assert "accuracy" not in set(report.frame()["metric"])
    assert report.value("lin", "params") == 68


def test_latency_has_spread_and_settings(zoo_models):
    t = measure.latency(zoo_models["small"], torch.rand(1, 1, 8, 8), warmup=2, repeats=30)
    assert len(t.samples_ms) == 30 and t.p50 > 0 and t.iqr >= 0
    assert "30 runs after 2 warm-up" in t.method


def test_wrong_input_shape_is_explained(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(ValueError, match="does not accept.*digits.*1, 8, 8"):
        measure.measure({"mnist-mlp": model}, digits)


def test_wrong_number_of_classes_is_explained(digits):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with pytest.raises(ValueError, match="3\\].*10 classes"):
        measure.measure({"three": model}, digits)


def test_nan_example_is_rejected():
    with pytest.raises(ValueError, match="NaN"):
        measure.measure(nn.Linear(2, 2), example=torch.tensor([[1.0, math.nan]]))


def test_nothing_to_measure():
    with pytest.raises(ValueError, match="no models"):
        measure.measure({}, example=torch.rand(1, 2))
    with pytest.raises(ValueError, match="Task.*example"):
        measure.measure(nn.Linear(2, 2))


@pytest.mark.parametrize("sizes", [(0,), (-3,), (), (1, 2.5)])
def test_batch_sizes_below_one_are_refused_before_measuring(sizes):
    # batch 0 and -3 once gave a negative throughput
    with pytest.raises(ValueError, match=r"batch_sizes must be whole numbers >= 1, such as \(1, 64\)"):
        measure.measure(nn.Linear(3, 2), example=torch.zeros(1, 3), batch_sizes=sizes)


def test_int8_instruction_detection_matches_cpuinfo():
    flags = open("/proc/cpuinfo").read()
    assert ("AVX-512 VNNI" in measure.int8_instructions()) == ("avx512_vnni" in flags)


def test_interleaved_keeps_each_models_best_round():
    import torch

    models = {"a": torch.nn.Linear(8, 8), "b": torch.nn.Linear(8, 2)}
    timings = ll.measure.interleaved(models, torch.zeros(4, 8), rounds=3, repeats=5)
    assert set(timings) == {"a", "b"}
    assert all(t.p50 > 0 and len(t.samples_ms) == 5 for t in timings.values())


def test_batch_inputs_come_from_an_example_or_a_task(digits):
    assert measure.batch_inputs(digits, None, 8).shape == (8, 1, 8, 8)
    assert measure.batch_inputs(None, torch.ones(3, 5), 4).shape == (4, 5)
    with pytest.raises(ValueError, match="task=.*example="):
        measure.batch_inputs(None, None, 4)


def test_a_wide_spread_is_flagged_even_on_a_quiet_machine():
    steady = measure.Timing([1.0, 1.0, 1.1, 1.1, 1.2, 1.2], warmup=0, threads=1, batch_size=1)
    assert steady.note is None  # IQR 0.15 ms, 14 % of the 1.1 ms median
    wide = measure.Timing([1.0, 1.0, 1.0, 2.0, 2.0, 2.0], warmup=0, threads=1, batch_size=1)
    assert wide.note == "disturbed: the spread (IQR) is 67 % of the median; rerun on a quiet machine"
    busy = measure.Timing([1.0] * 6, warmup=0, threads=1, batch_size=1, foreign_cores=1.2)
    assert busy.note.startswith("disturbed: other processes used 1.2 cores")
    report = ll.Report()
    measure.add_timing(report, "m", wide)
    assert report.disturbed() and ll.report.is_disturbed(report.rows[0])

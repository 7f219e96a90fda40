import pytest
import torch

from lightlab.techniques import halfprec


def test_formats_read_from_torch_finfo():
    table = halfprec.formats()
    assert table.loc["float16", "largest"] == 65504.0 and table.loc["bfloat16", "largest"] > 3e38
    assert list(table["mantissa bits"]) == [23, 10, 7] and list(table["exponent bits"]) == [8, 5, 8]
    # 257 needs 9 significant bits: bfloat16 has 8 (7 stored), float16 has 11.
    assert table.loc["bfloat16", "256 + 1"] == 256.0 and table.loc["float16", "256 + 1"] == 257.0


def test_half_copies_take_float32_and_keep_the_original(zoo_models):
    large = zoo_models["large"]
    for fmt, dtype in (("float16", torch.float16), ("bfloat16", torch.bfloat16)):
        model = halfprec.half(large, fmt)
        assert next(model.parameters()).dtype == dtype and next(large.parameters()).dtype == torch.float32
        assert model(torch.zeros(2, 1, 8, 8)).dtype == torch.float32
    with pytest.raises(ValueError, match="unknown format 'int4'"):
        halfprec.half(large, "int4")


def test_fp16_overflows_where_bf16_does_not(digits, zoo_models):
    table = halfprec.softmax_overflow(zoo_models["large"], digits)
    assert table.loc["float32", "largest logit"] > 11.1  # exp(11.1) > 65504, float16's largest number
    assert table.loc["float16", "largest exp(logit)"] == float("inf")
    assert table.loc["float16", "softmax broken (%)"] > 10
    assert table.loc["bfloat16", "softmax broken (%)"] == 0 == table.loc["float32", "softmax broken (%)"]
    assert (table["after subtracting the max (%)"] == 0).all()


def test_bf16_loses_precision_fp16_keeps_and_both_halve_the_file(digits, zoo_models):
    report = halfprec.compare_half(zoo_models["large"], task=digits, batch=8, timed=False)
    fp16, bf16 = report.value("float16", "logit_error"), report.value("bfloat16", "logit_error")
    assert 0 < fp16 and 4 * fp16 < bf16 < 1  # 3 fewer mantissa bits: about 8x coarser
    for fmt in ("float16", "bfloat16"):
        assert report.ratio("size", fmt, "float32") == pytest.approx(0.5, abs=0.01)
        assert abs(report.value(fmt, "accuracy") - report.value("float32", "accuracy")) <= 0.6
    assert not any(r["metric"].startswith("latency") for r in report.rows)


def test_timed_comparison_measures_each_format(digits, zoo_models):
    report = halfprec.compare_half(zoo_models["small"], task=digits, batch=4, repeats=3)
    assert {r["model"] for r in report.rows if r["metric"] == "speedup"} == {"float32", "float16", "bfloat16"}
    assert "alternating rounds" in next(r for r in report.rows if r["metric"] == "latency_p50_b4")["method"]
    assert "float16" in halfprec.outlook() and "bfloat16" in halfprec.outlook()
    assert set(halfprec.native_half()) == {"float16", "bfloat16"}

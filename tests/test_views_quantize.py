import pytest
import torch

import lightlab as ll


def test_bit_sweep_plot_draws_one_line_per_scheme(digits, zoo_models):
    report = ll.quantize.bit_sweep(zoo_models["small"], task=digits, bits=(8, 2))
    fig = ll.views.quantize.plot_bit_sweep(report)
    assert len(fig.data) == 3 and list(fig.data[0].x) == [2, 8]


def test_explorer_reruns_and_explains_refusals(digits, zoo_models):
    explorer = ll.views.quantize.QuantExplorer(zoo_models["small"], digits)
    first = explorer.run()
    assert explorer.summary.value.startswith("fake 4-bit symmetric, simulated")
    assert first.ratio("size", "fake 4-bit symmetric", "fp32") == pytest.approx(1.0, abs=0.01)
    # Simulated quantization runs in float32: no timing, no speed-up, only the size it would take.
    assert not any(r["metric"].startswith(("latency", "speedup")) for r in first.rows)
    assert "speed" not in explorer.summary.value.replace("no faster", "")
    assert first.value("fake 4-bit symmetric", "simulated_size") < 0.2 * first.value("fp32", "size")
    explorer.bits.value = 2
    assert explorer.runs == 2 and "fake 2-bit" in explorer.summary.value
    explorer.backend.value = "onnxruntime"
    assert explorer.bits.disabled and explorer.result.ratio("size", "onnxruntime 8-bit symmetric", "fp32") < 0.9
    assert "(measured)" in explorer.summary.value or "not measurable now" in explorer.summary.value
    # ONNX Runtime float32 is timed beside it, so the summary can say how much of the speed-up int8 itself gives.
    assert "onnxruntime fp32" in explorer.result.models()
    if "(measured)" in explorer.summary.value:
        assert "from the runtime" in explorer.summary.value and "from int8 itself" in explorer.summary.value
    explorer.scheme.value = "kmeans"
    assert explorer.result is None and "no k-means kernels" in explorer.summary.value


def test_plot_grid_draws_every_level(zoo_models):
    fig = ll.views.quantize.plot_grid(zoo_models["large"][6].weight, bits=3)
    assert len(fig.layout.shapes) == 7 and "scale =" in fig.layout.title.text
    assert len(ll.views.quantize.plot_grid(zoo_models["large"][6].weight, bits=2, scheme="kmeans").layout.shapes) == 4


def test_plot_grid_refuses_what_the_quantizers_refuse():
    with pytest.raises(TypeError, match="floating-point tensor"):
        ll.views.quantize.plot_grid(torch.arange(10), bits=3)
    with pytest.raises(ValueError, match="1 to 16"):
        ll.views.quantize.plot_grid(torch.randn(10), bits=0)


def test_plot_calibration_draws_the_three_ranges_on_a_real_activation(digits, zoo_models):
    hidden = ll.calibrate.observe(zoo_models["small"], digits.splits["train"].tensors[0][:200], ["2"])["2"]
    fig = ll.views.quantize.plot_calibration(hidden, bits=8, what="the hidden layer of digits-small")
    names = [trace.name for trace in fig.data]
    assert names[0] == "values seen" and [n.split(":")[0] for n in names[1:]] == [
        "min-max",
        "percentile 99.99 %",
        "entropy (8 bits)",
    ]
    top = hidden.max().item()
    assert f"[0, {top:.3g}]" in names[1]  # min-max: the whole range, after a ReLU from 0
    assert fig.layout.yaxis.type == "log" and "hidden layer" in fig.layout.title.text

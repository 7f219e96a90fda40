"""ll.views.budget: the flash and RAM bars and the device picker."""

import math

import pytest
from _figures import problems

import lightlab as ll
from lightlab.face.views import budget as budget_views
from lightlab.measurement import budget


@pytest.fixture(scope="module")
def picker(kws, kws_small):
    return budget_views.DevicePicker({"large": ll.zoo.pretrained("spoken_digits-large"), "small": kws_small}, kws)


def test_picker_quantizes_to_int8_and_checks_the_onnx_file(picker, kws):
    assert picker.run().precision == "fp32"
    picker.model.value = "small"
    picker.precision.value = "int8"
    fit = picker.result
    int8 = picker.variant()
    assert fit.precision == "int8" and fit.flash_used == len(int8.onnx) < 64 * 1024
    # int8 activations: the float input (1,664 B) and its uint8 copy (416 B) are the largest pair.
    assert fit.ram_used == 32 * 13 * (4 + 1)
    assert fit.ok and ll.train.evaluate(int8, kws) >= 0.85
    with pytest.raises(ValueError, match="does not accept inputs of shape \\[1, 8, 8\\]"):
        budget.fits(int8, ll.load("digits").example(1), "MCU (nRF52840)")
    picker.device.value = "Arduino Uno (ATmega328P)"
    assert not picker.result.ok and "over by 32 B" in picker.summary.value
    figure = budget_views.plot_fits([picker.result, fit])
    assert [trace.name for trace in figure.data] == ["flash", "RAM"] and len(figure.data[0].x) == 2


def test_the_budget_label_keeps_the_log_axis_near_the_data(kws, kws_small):
    fits = [budget.fits(kws_small, kws.example(1), device) for device in ("MCU (nRF52840)", "phone (Pixel 8)")]
    fig = budget_views.plot_fits(fits)
    # On a log axis plotly reads an annotation's y as log10(y): annotation_text on hline(y=100) would sit at
    # 10^100 and stretch the axis to it. Every annotation must sit within a few decades of the bars.
    logs = [math.log10(y) for trace in fig.data for y in trace.y]
    assert [a.text for a in fig.layout.annotations] == ["budget (100 %)"]
    assert all(min(logs) - 3 <= a.y <= max(logs) + 3 for a in fig.layout.annotations if a.yref == "y")
    assert fig.layout.annotations[0].y == 2 and fig.layout.shapes[0].y0 == 100
    assert problems(fig.to_plotly_json()) == []


def test_picker_widget_has_its_controls_a_summary_and_the_output(picker):
    rows = picker.widget.children
    assert rows[0].children == (picker.device, picker.model) and rows[1] is picker.precision
    assert rows[2] is picker.summary and rows[-1] is picker.output

"""ll.device_survey: every model and its int8 copy, measured at batch 1 and checked against a device."""

import lightlab as ll
from lightlab.applications import device_survey


def test_survey_measures_each_model_and_its_int8_copy():
    kws = ll.load("spoken_digits")
    result = device_survey.survey({"small": ll.zoo.pretrained("spoken_digits-small")}, kws, "MCU (nRF52840)")
    assert list(result.models) == ["small", "small int8"] and result.models["small int8"].precision == "int8"
    assert set(result.report.models()) == {"small", "small int8"}
    assert [(f.model, f.precision) for f in result.fits] == [("small", "fp32"), ("small", "int8")]
    assert all(f.ok and f.device.name == "MCU (nRF52840)" for f in result.fits)
    assert result.fits[1].flash_used == result.report.value("small int8", "size")

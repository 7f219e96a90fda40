"""ll.device_survey: every model and its int8 copy, measured at batch 1 and checked against a device."""

import pytest

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
    # A microcontroller's energy is modelled on its own class: weights from flash, activations in SRAM, no DRAM.
    rows = [r for r in result.report.rows if r["metric"] == "energy_modelled_per_inference"]
    assert [r["model"] for r in rows] == ["small", "small int8"]
    assert all(r["method"] == "modelled (mcu, nRF52840 datasheet + eFlash)" and "DRAM" not in r["note"] for r in rows)
    mcu = ll.energy.modelled_energy(result.models["small"], kws.example(1), profile="mcu")["value"]
    assert result.report.value("small", "energy_modelled_per_inference") == pytest.approx(mcu)


def test_each_device_class_gets_its_profile():
    assert {name: device_survey.profile_for(name) for name in ll.budget.DEVICE_BUDGETS} == {
        "Arduino Uno (ATmega328P)": "mcu",
        "MCU (nRF52840)": "mcu",
        "MCU (STM32L4R5)": "mcu",
        "smartwatch (Galaxy Watch4)": "phone",
        "phone (Pixel 8)": "phone",
    }

"""ll.profiles: each device class's joules per MAC and per memory access, and the modelled energy they give."""

import pytest
import torch

from lightlab.measurement import energy, profiles

EXAMPLE = torch.rand(8, 4)


def tiny() -> torch.nn.Module:
    # One Linear 4 -> 2 with a bias: 8 MACs, 10 parameters; its input (4) and output (2) are the activations.
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 2))


def test_each_profile_labels_its_rows_with_its_name_and_source():
    labels = {name: energy.modelled_energy(tiny(), EXAMPLE, profile=name)["method"] for name in profiles.PROFILES}
    assert labels == {
        "server": "modelled (server, Horowitz 2014, 45 nm)",
        "phone": "modelled (phone, Edge TPU + LPDDR4)",
        "mcu": "modelled (mcu, nRF52840 datasheet + eFlash)",
    }
    assert energy.modelled_energy(tiny(), EXAMPLE)["method"] == labels["server"]  # the default keeps old numbers


@pytest.mark.parametrize("name", ["server", "phone", "mcu"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_sum_is_macs_times_per_mac_plus_words_times_per_word(name, precision):
    p = profiles.PROFILES[name]
    row = energy.modelled_energy(tiny(), EXAMPLE, precision, profile=name)
    per_byte = {"fp32": 4, "int8": 1}[precision] / 4  # 32-bit words per value
    by_hand = 8 * p.per_mac(precision) + 10 * per_byte * p.weight_j_per_word + 6 * per_byte * p.activation_j_per_word
    assert row["macs"] == 8 and row["weight_words"] == 10 * per_byte and row["activation_words"] == 6 * per_byte
    assert row["value"] == pytest.approx(by_hand, rel=1e-12)
    assert row["value"] == pytest.approx(row["compute_j"] + row["memory_j"], rel=1e-12)


def test_the_server_profile_is_horowitz_45nm():
    p = profiles.PROFILES["server"]
    assert p.per_mac("fp32") == pytest.approx(4.6e-12) and p.per_mac("int8") == pytest.approx(0.23e-12)
    assert p.weight_j_per_word == p.activation_j_per_word == 640e-12


def test_the_mcu_profile_has_no_dram_term():
    p = profiles.PROFILES["mcu"]
    assert not p.uses_dram and profiles.PROFILES["server"].uses_dram and profiles.PROFILES["phone"].uses_dram
    assert (p.weight_memory, p.activation_memory) == ("on-chip flash", "SRAM")
    row = energy.modelled_energy(tiny(), EXAMPLE, profile="mcu")
    assert "DRAM" not in row["note"] and "DRAM" not in row["method"] and "DDR" not in row["note"]
    # The datasheet arithmetic: 3.3 mA x 3 V / 64 MHz = 155 pJ a cycle, one cycle per int8 MAC.
    assert p.per_mac("int8") == pytest.approx(154.7e-12, rel=1e-3)


def test_the_same_model_costs_less_memory_energy_on_an_mcu_than_on_dram():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    x = torch.rand(4, 64)
    for precision in ("fp32", "int8"):
        mcu, server, phone = (
            energy.modelled_energy(model, x, precision, profile=n) for n in ("mcu", "server", "phone")
        )
        assert mcu["memory_j"] < phone["memory_j"] < server["memory_j"]
        assert 0 < mcu["memory_j"] < server["memory_j"] / 10  # flash and SRAM against DRAM: over ten times cheaper


def test_int8_is_cheaper_than_fp32_on_every_profile():
    for name in profiles.PROFILES:
        fp32, int8 = (energy.modelled_energy(tiny(), EXAMPLE, p, profile=name)["value"] for p in ("fp32", "int8"))
        assert 0 < int8 < fp32


def test_bad_profiles_are_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="server, phone, mcu"):
        energy.modelled_energy(tiny(), EXAMPLE, profile="watch")
    with pytest.raises(ValueError, match="every energy"):
        profiles.Profile("broken", "nowhere", (("fp32", 0.0),), 1e-12, 1e-12, "SRAM", "SRAM", "none")
    own = profiles.Profile("sram only", "by hand", (("fp32", 1e-12),), 1e-12, 1e-12, "SRAM", "SRAM", "a test")
    assert profiles.lookup(own) is own
    with pytest.raises(ValueError, match="precision must be one of \\['fp32'\\]"):
        energy.modelled_energy(tiny(), EXAMPLE, "int8", profile=own)

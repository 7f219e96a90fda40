"""Tests for lightlab.techniques.adaptive.links: a link's transfer time and radio energy, presets, bad values."""

import math

import pytest

from lightlab.techniques.adaptive import links


def test_transfer_time_and_radio_energy_on_a_hand_made_network():
    toy = links.Network("toy", rtt_ms=10, uplink_mbps=1, radio_power_w=2, tail_s=1, tail_power_w=0.5)
    assert toy.transfer_ms(256) == pytest.approx(10 + 2.048)  # 2,048 bits at 1 Mbit/s
    assert toy.radio_joules(256, wait_ms=3) == pytest.approx(2 * 15.048e-3 + 0.5)


def test_presets_name_their_source():
    for network in links.NETWORKS.values():
        assert network.source and network.source != "user-defined"
        assert network.radio_joules(256) > 0
    assert links.get_network("Wi-Fi") is links.NETWORKS["Wi-Fi"]
    toy = links.Network("toy", rtt_ms=1, uplink_mbps=1, radio_power_w=1)
    assert links.get_network(toy) is toy


def test_bad_networks_say_what_to_do():
    with pytest.raises(ValueError, match="rtt_ms must be a finite number >= 0, got -5"):
        links.Network("bad", rtt_ms=-5, uplink_mbps=1, radio_power_w=1)
    with pytest.raises(ValueError, match="tail_s must be a finite number >= 0, got nan"):
        links.Network("bad", rtt_ms=5, uplink_mbps=1, radio_power_w=1, tail_s=math.nan)
    with pytest.raises(ValueError, match="uplink_mbps must be > 0"):
        links.Network("bad", rtt_ms=5, uplink_mbps=0, radio_power_w=1)
    with pytest.raises(ValueError, match="unknown network 'carrier pigeon'; use one of Wi-Fi"):
        links.get_network("carrier pigeon")

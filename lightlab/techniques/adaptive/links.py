"""The links a device can offload over: round trip, uplink speed and the radio's power, as stated assumptions.

``Network`` is one link; ``NETWORKS`` holds presets (Wi-Fi, 4G LTE, 5G, NB-IoT), each naming its source. Their
figures are rounded from published measurements or assumed: orders of magnitude for teaching, not a measurement
of any particular network; build your own ``Network`` for yours. ``cascade`` prices each offload with them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from lightlab import config


@dataclass(frozen=True)
class Network:
    """A link from the device to the cloud: round trip, uplink speed and what the radio draws (assumptions)."""

    name: str
    rtt_ms: float  # round-trip time of a small request, without the payload's airtime
    uplink_mbps: float
    radio_power_w: float  # radio active: sending and waiting for the answer
    tail_s: float = 0.0  # the radio stays in a high-power state this long after a transfer
    tail_power_w: float = 0.0
    source: str = "user-defined"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"Network {f.name} must be a finite number >= 0, got {value!r}; times, speeds and "
                    f"powers cannot be negative (use 0 for a radio without a tail)"
                )
        if self.uplink_mbps <= 0:
            raise ValueError(
                f"Network uplink_mbps must be > 0, got {self.uplink_mbps}; a link that sends nothing "
                f"cannot offload (use threshold 0 to keep every input on the device)"
            )

    def transfer_ms(self, nbytes: int) -> float:
        """Return the milliseconds to send ``nbytes`` and get a (tiny) answer back: RTT + airtime of the payload."""
        return self.rtt_ms + 8 * nbytes / (self.uplink_mbps * 1e6) * 1e3

    def radio_joules(self, nbytes: int, wait_ms: float = 0.0) -> float:
        """Return the radio's energy for one offload: power x (transfer + ``wait_ms`` for the answer) + tail."""
        return self.radio_power_w * (self.transfer_ms(nbytes) + wait_ms) / 1e3 + self.tail_power_w * self.tail_s


_HUANG = "Huang et al., 'A close examination of performance and power characteristics of 4G LTE networks', MobiSys 2012"
NETWORKS = {
    n.name: n
    for n in [
        Network(
            "Wi-Fi",
            30,
            20,
            0.13,
            0.24,
            0.12,
            f"power model and tail rounded from {_HUANG} (Wi-Fi: ~0.13 W active, 0.24 s tail at ~0.12 W); "
            f"RTT and uplink assumed for a home network",
        ),
        Network(
            "4G LTE",
            70,
            6,
            1.29,
            11.6,
            1.06,
            f"rounded from {_HUANG}: median uplink ~6 Mbit/s, ~1.29 W active base power, 11.6 s tail at ~1.06 W; "
            f"RTT assumed",
        ),
        Network(
            "5G",
            30,
            50,
            2.0,
            10.0,
            1.5,
            "assumed, of the order reported by Xu et al., 'Understanding operational 5G', SIGCOMM 2020 (5G NSA "
            "draws more power than LTE and keeps a long tail); RTT and uplink vary widely with the band",
        ),
        Network(
            "NB-IoT",
            1500,
            0.02,
            0.6,
            20.0,
            0.1,
            "assumed from 3GPP NB-IoT targets (tens of kbit/s, latency up to ~10 s, 23 dBm transmit power); "
            "a low-power wide-area link for sensors",
        ),
    ]
}


def get_network(network: str | Network) -> Network:
    """Return ``network`` itself, or the preset of that name (raising with the list of presets)."""
    how = "build a Network(name, rtt_ms, uplink_mbps, radio_power_w, tail_s, tail_power_w)"
    return config.preset(network, NETWORKS, Network, how)

"""Device profiles for the modelled energy: joules per multiply-accumulate and per memory access, with sources.

``energy.modelled_energy(model, example, profile=...)`` prices one inference as

    MACs x (J per MAC) + weight words x (J per weight word) + activation words x (J per activation word)

(a word is 32 bits), with the figures of one device class. Each figure below names its source; where it had to be
derived, the arithmetic is written out. All of them are ORDER OF MAGNITUDE: they rank models and device classes,
they do not predict what a given board draws (no idle power, no sensors, no radio, no operating system).

The profiles do not count the same things, and the label says which:

- **server** and **phone** price the arithmetic alone (an accelerator's view: Horowitz's per-operation figures, a
  neural accelerator's whole-chip TOPS/W) and every weight and activation as a DRAM access, as if nothing stayed in
  a cache: an upper bound on memory traffic;
- **mcu** has no DRAM. Weights are read from on-chip flash (where a microcontroller keeps them), activations from
  SRAM, and a MAC costs what the whole core draws for the clock cycles it takes (a Cortex-M has no accelerator:
  every MAC is instructions), read from a datasheet's run current.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightlab import config

# Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm, 0.9 V: J per operation.
FP32_MULT_J, FP32_ADD_J = 3.7e-12, 0.9e-12
INT8_MULT_J, INT8_ADD_J = 0.2e-12, 0.03e-12
# One 32-bit word read from DRAM: Han et al., "Learning both weights and connections for efficient neural networks",
# NeurIPS 2015, Table 1 (after Horowitz 2014, whose table gives 1.3-2.6 nJ per 64-bit DRAM access).
DRAM_J_PER_WORD = 640e-12
# One 32-bit word read from a 32 KB SRAM, same table (Horowitz: 10 / 20 / 100 pJ per 64-bit read from 8 KB / 32 KB
# / 1 MB: a larger array costs more, so a 256 KB microcontroller SRAM sits above this figure).
SRAM_J_PER_WORD = 5e-12

# Phone: a neural accelerator. Google's Coral Edge TPU: "4 TOPS, using 0.5 watts for each TOPS (2 TOPS per watt)"
# (coral.ai/technology; the same family as the Pixel phones' Edge TPU). 0.5 W / 1e12 ops = 0.5 pJ per op, and a MAC
# is 2 ops: 1 pJ per int8 MAC, whole chip, at its peak rate.
NPU_INT8_MAC_J = 2 * 0.5e-12
# Phone memory: LPDDR4, about 14 pJ per bit read from a 32 Gb LPDDR4 die (simulated: H. Ha, PhD thesis, Stanford
# University, stacks.stanford.edu/file/yp843xn4828). x 32 bits = 448 pJ per word: LPDDR saves mostly standby power;
# per bit moved it is close to Horowitz's DDR3 (1.3-2.6 nJ / 64 bits = 20-41 pJ per bit).
LPDDR4_J_PER_WORD = 14e-12 * 32

# Microcontroller: Nordic nRF52840 Product Specification (Cortex-M4F, 64 MHz), "CPU running CoreMark from flash,
# regulator DC/DC": 3.3 mA at 3.0 V, i.e. 52 uA/MHz. One clock cycle of the whole chip: 3.3e-3 A x 3.0 V / 64e6 Hz
# = 155 pJ. It includes the core's own instruction fetches and register and SRAM traffic, so the flash and SRAM
# terms below count some accesses twice: an upper bound, by a few per cent.
MCU_CYCLE_J = 3.3e-3 * 3.0 / 64e6
# Cycles per MAC, ASSUMED from the Cortex-M4 instruction timings (Arm Cortex-M4 Technical Reference Manual):
# int8 (CMSIS-NN, Lai et al., arXiv:1801.06601, 2018) widens int8 to int16 and retires two MACs per single-cycle
# SMLAD; with the loads and the widening around it, about 1 cycle per MAC. fp32: VFMA.F32 takes 3 cycles and each
# operand load 1-2 more: about 5 cycles per MAC.
MCU_INT8_CYCLES_PER_MAC, MCU_FP32_CYCLES_PER_MAC = 1, 5
# On-chip flash read: Renesas, 65 nm SOTB 2T-MONOS embedded flash, VLSI Symposium 2019: 0.22 pJ/bit at 64 MHz,
# "among the world's lowest", its read current about 6 uA/MHz against about 50 uA/MHz for their conventional flash.
# A conventional flash therefore costs about 0.22 x 50 / 6 = 1.8 pJ/bit: x 32 bits = 59 pJ per word.
FLASH_J_PER_WORD = 0.22e-12 * 50 / 6 * 32


@dataclass(frozen=True)
class Profile:
    """What one device class pays per MAC (by precision) and per 32-bit word of weights and of activations."""

    name: str
    source: str  # short: it goes in every row's method, "modelled (NAME, SOURCE)"
    mac_j: tuple[tuple[str, float], ...]  # (precision, J per MAC), e.g. (("fp32", 4.6e-12), ("int8", 0.23e-12))
    weight_j_per_word: float
    activation_j_per_word: float
    weight_memory: str  # where the weights are read from: "DRAM", "LPDDR4", "on-chip flash"
    activation_memory: str
    citation: str  # the sources, in full

    def __post_init__(self) -> None:
        costs = [j for _, j in self.mac_j] + [self.weight_j_per_word, self.activation_j_per_word]
        if not self.name or not self.mac_j or not all(j > 0 for j in costs):
            raise ValueError(
                f"profile {self.name!r} needs a name, at least one (precision, J per MAC) pair and every energy "
                f"> 0 J, e.g. mac_j=(('fp32', 4.6e-12),), weight_j_per_word=640e-12; got {costs}"
            )

    @property
    def label(self) -> str:
        """Return the method label of every row priced with this profile: 'modelled (NAME, SOURCE)'."""
        return f"modelled ({self.name}, {self.source})"

    @property
    def uses_dram(self) -> bool:
        """Return True when weights or activations are priced as DRAM accesses (LPDDR included)."""
        return any("DRAM" in m or "DDR" in m for m in (self.weight_memory, self.activation_memory))

    def per_mac(self, precision: str) -> float:
        """Return the joules of one multiply-accumulate at ``precision``, or raise naming the ones known."""
        costs = dict(self.mac_j)
        if precision not in costs:
            raise ValueError(f"precision must be one of {sorted(costs)} for profile {self.name!r}, got {precision!r}")
        return costs[precision]


PROFILES = {
    p.name: p
    for p in [
        Profile(
            "server",
            "Horowitz 2014, 45 nm",
            (("fp32", FP32_MULT_J + FP32_ADD_J), ("int8", INT8_MULT_J + INT8_ADD_J)),
            DRAM_J_PER_WORD,
            DRAM_J_PER_WORD,
            "DRAM",
            "DRAM",
            "a server or laptop: MACs at Horowitz's 45 nm figures (ISSCC 2014), arithmetic only; every weight and "
            "activation word a 640 pJ DRAM read (Han et al., NeurIPS 2015, Table 1)",
        ),
        Profile(
            "phone",
            "Edge TPU + LPDDR4",
            (("fp32", FP32_MULT_J + FP32_ADD_J), ("int8", NPU_INT8_MAC_J)),
            LPDDR4_J_PER_WORD,
            LPDDR4_J_PER_WORD,
            "LPDDR4",
            "LPDDR4",
            "a phone: int8 MACs on a neural accelerator at 2 TOPS/W (Google Coral Edge TPU, coral.ai), fp32 MACs at "
            "Horowitz's 45 nm figures (no NPU runs fp32: a CPU or GPU does, arithmetic only); every weight and "
            "activation word an LPDDR4 read at ~14 pJ/bit (simulated 32 Gb die, H. Ha, PhD thesis, Stanford)",
        ),
        Profile(
            "mcu",
            "nRF52840 datasheet + eFlash",
            (("fp32", MCU_FP32_CYCLES_PER_MAC * MCU_CYCLE_J), ("int8", MCU_INT8_CYCLES_PER_MAC * MCU_CYCLE_J)),
            FLASH_J_PER_WORD,
            SRAM_J_PER_WORD,
            "on-chip flash",
            "SRAM",
            "a microcontroller, no DRAM: a MAC costs its cycles (1 int8, 5 fp32, assumed from Cortex-M4 timings) at "
            "155 pJ a cycle (nRF52840: 3.3 mA x 3 V / 64 MHz, CoreMark from flash); weights read from on-chip flash "
            "at ~59 pJ per word (Renesas VLSI 2019, scaled to a conventional flash), activations from SRAM at 5 pJ "
            "per word (Han et al. 2015 after Horowitz 2014)",
        ),
    ]
}


def lookup(profile: str | Profile) -> Profile:
    """Return the Profile called ``profile`` (a Profile passes through), or raise listing the known ones."""
    return config.preset(profile, PROFILES, Profile, "pass your own ll.profiles.Profile")

"""Human units: three significant digits, the right prefix, never e-notation, never a bare 0.0."""

import math

import pytest

from lightlab.measurement.units import human, readable


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0136, "ms", "13.6 µs"),
        (4.009, "ms", "4.01 ms"),
        (1234.0, "ms", "1.23 s"),
        (4_518_000, "bytes", "4.52 MB"),
        (11_900, "bytes", "11.9 kB"),
        (512, "bytes", "512 B"),
        (1.73277e-3, "J", "1.73 mJ"),
        (6.44e-6, "J", "6.44 µJ"),
        (98.33333, "%", "98.3 %"),
        (1_128_714, "count", "1,128,714"),
        (17.09, "x", "17.1×"),
        (15_964.2, "samples/s", "15,964/s"),
        (0.0, "ms", "0 ns"),
        (math.nan, "ms", ""),
    ],
)
def test_human(value, unit, text):
    assert human(value, unit) == text


def test_metric_names_read_as_words():
    assert readable("latency_p50_b64") == "latency p50, batch 64"
    assert readable("energy_per_inference") == "energy per inference (estimated, CodeCarbon)"
    assert readable("throughput_b64") == "throughput, batch 64"
    assert readable("some_new_metric") == "some new metric"

"""Checkers for notebook 22 (hybrid edge/cloud cascade)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lightlab.face.checks.base import fail, number, prediction
from lightlab.measurement.report import Report
from lightlab.measurement.stats import Paired

# Five inputs: two confident, one unsure, two exactly at the threshold (the convention matters there).
_CONF = np.array([0.95, 0.40, 0.80, 0.80, 0.99])
_THRESHOLD = 0.8
_EXPECTED_MASK = [False, True, True, True, False]
# A link and two models, small enough to work out by hand: 1,000 bytes at 2 Mbit/s take 4 ms on air.
_COSTS = {"edge_ms": 2.0, "cloud_ms": 5.0, "rtt_ms": 50.0, "payload_bytes": 1000, "uplink_mbps": 2.0}


def offload_mask(fn: Callable) -> str:
    """Check ``fn(confidence, threshold)`` returns True for the inputs the small model must send to the cloud."""
    what = f"offload_mask(confidence={_CONF.tolist()}, threshold={_THRESHOLD})"
    got = fn(_CONF.copy(), _THRESHOLD)
    if got is None:
        fail(what, got, _EXPECTED_MASK, "your function must `return` one True/False per input")
    got = [bool(v) for v in np.asarray(got).ravel()]
    if got == _EXPECTED_MASK:
        return "correct: offload_mask works"
    if got == [not v for v in _EXPECTED_MASK]:
        fail(
            what,
            got,
            _EXPECTED_MASK,
            "you send the CONFIDENT inputs to the cloud: it is the unsure ones "
            "(confidence <= threshold) that need the large model",
        )
    if got == [bool(c < _THRESHOLD) for c in _CONF]:
        fail(
            what,
            got,
            _EXPECTED_MASK,
            "an input exactly at the threshold counts as unsure: use confidence <= "
            "threshold, so that threshold 1 sends every input and 0 sends none",
        )
    fail(
        what,
        got,
        _EXPECTED_MASK,
        "compare each confidence with the threshold: True (send) where confidence <= "
        "threshold, False (answer on the device) elsewhere",
    )


def _mean(mask: np.ndarray, edge: float, network: float, cloud: float, edge_on_offloaded: bool = True) -> float:
    offloaded = (edge if edge_on_offloaded else 0) + network + cloud
    return float(np.where(mask, offloaded, edge).mean())


def cascade_latency(fn: Callable) -> str:
    """Check ``fn(confidence, threshold, edge_ms, cloud_ms, rtt_ms, payload_bytes, uplink_mbps)`` gives the mean
    latency per input in ms."""
    c = _COSTS
    mask = np.array(_EXPECTED_MASK)
    airtime = 8 * c["payload_bytes"] / (c["uplink_mbps"] * 1e6) * 1e3
    network = c["rtt_ms"] + airtime
    expected = _mean(mask, c["edge_ms"], network, c["cloud_ms"])
    mistakes = {
        _mean(
            mask, c["edge_ms"], network, c["cloud_ms"], edge_on_offloaded=False
        ): "the small model runs on EVERY input, also on those it then sends away: add edge_ms to offloaded ones too",
        _mean(
            ~mask, c["edge_ms"], network, c["cloud_ms"]
        ): "you send the confident inputs to the cloud; the unsure ones (confidence <= threshold) go",
        _mean(
            _CONF < _THRESHOLD, c["edge_ms"], network, c["cloud_ms"]
        ): "an input exactly at the threshold is offloaded too (confidence <= threshold)",
        _mean(
            mask, c["edge_ms"], c["rtt_ms"] + airtime / 8, c["cloud_ms"]
        ): "the uplink speed is in megaBITS per second: the payload takes 8 * bytes / (uplink_mbps * 1e6) seconds",
        _mean(
            mask, c["edge_ms"], c["rtt_ms"], c["cloud_ms"]
        ): "the payload also has to travel: add its airtime, 8 * bytes / (uplink_mbps * 1e6) seconds, to the RTT",
        _mean(mask, c["edge_ms"], airtime, c["cloud_ms"]): "an offloaded input pays the network round trip (rtt_ms)",
        _mean(mask, c["edge_ms"], network, 0): "the cloud model needs time too: add cloud_ms to offloaded inputs",
        expected * len(mask): "return the MEAN over the inputs, not the sum",
        c["edge_ms"] + network + c["cloud_ms"]: "average over ALL inputs, the ones answered on the device included",
    }
    got = fn(_CONF.copy(), _THRESHOLD, **c)
    return number(
        "cascade_latency",
        f"cascade_latency(confidence={_CONF.tolist()}, threshold={_THRESHOLD}, "
        + ", ".join(f"{k}={v}" for k, v in c.items())
        + ")",
        got,
        expected,
        mistakes,
        "per input: edge_ms, plus for offloaded inputs rtt_ms + 8 * payload_bytes / (uplink_mbps * 1e6) "
        "* 1e3 + cloud_ms; then the mean over all inputs",
        "the mean latency in ms",
    )


def cascade_prediction(guess: float | None, report: Report, test: Paired) -> str:
    """Compare the learner's predicted accuracy cost of the cascade (points below the large model) with the one
    measured on test, and say what the paired test makes of it."""
    name = next(m for m in report.models() if m.startswith("cascade"))
    gap = report.value("cloud only (large)", "accuracy") - report.value(name, "accuracy")
    why = (
        f"The small model is wrong mostly where it is unsure, and those inputs go to the large model: the cascade "
        f"disagrees with the large model alone on {test.only_a + test.only_b} of {test.n} test images. "
        f"Paired test: {test.verdict}."
    )
    return prediction(guess, gap, "the accuracy the cascade gives up", "points", why, within=0.5)

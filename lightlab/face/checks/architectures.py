"""Checkers for notebook 20 (efficient architectures)."""

from __future__ import annotations

from collections.abc import Callable

from lightlab.face.checks.base import number, prediction
from lightlab.measurement.report import Report


def dwsep_params(fn: Callable[[int, int, int], int]) -> str:
    """Check ``fn(in_ch, out_ch, kernel)`` returns the parameters of ``ll.blocks.DepthwiseSeparable(in_ch, out_ch,
    kernel)``: convs without bias, BatchNorm with a scale and a shift per channel."""
    from lightlab.measurement import measure
    from lightlab.models import blocks

    for cin, cout, k in ((8, 16, 3), (3, 5, 5)):
        expected = measure.count_params(blocks.DepthwiseSeparable(cin, cout, k))
        depthwise, pointwise, bn = k * k * cin, cin * cout, 2 * (cin + cout)
        mistakes = {
            depthwise + bn - 2 * cout: "you left out the pointwise part: after the k x k depthwise conv comes a 1x1 "
            "conv mixing the channels (in_ch * out_ch weights) and its BatchNorm",
            depthwise: "you counted only the depthwise conv; add the 1x1 pointwise conv (in_ch * out_ch) and "
            "the two BatchNorms (2 parameters per channel each)",
            k * k * cin * cout + 2 * cout: "that is a standard conv (k*k*in_ch*out_ch): a depthwise conv has ONE "
            "k x k filter per input channel, k*k*in_ch weights",
            k * k * cin * cout + pointwise + bn: "the depthwise conv has groups=in_ch: one k x k filter per input "
            "channel (k*k*in_ch), not k*k*in_ch*out_ch",
            k * k * cin * cin + pointwise + bn: "the depthwise conv has groups=in_ch: each filter sees one channel, "
            "so k*k*in_ch weights, not k*k*in_ch*in_ch",
            depthwise + pointwise: "you forgot the BatchNorms: each has a scale and a shift per channel, "
            "2 * in_ch after the depthwise conv and 2 * out_ch after the pointwise one",
            depthwise + pointwise + cin + cout: "BatchNorm learns TWO parameters per channel (a scale and a shift); "
            "its running mean and variance are buffers, not parameters",
            depthwise + pointwise + 2 * cout: "the depthwise conv has its own BatchNorm too: add 2 * in_ch",
            depthwise + pointwise + 2 * cin: "the pointwise conv has its own BatchNorm too: add 2 * out_ch",
            depthwise + pointwise + bn + cin + cout: "the convs have bias=False (the BatchNorm after each has its "
            "own shift), so do not count conv biases",
            k * k * cout + pointwise + 2 * cout + 2 * cout: "the depthwise conv works on the INPUT channels: "
            "k*k*in_ch weights and 2*in_ch BatchNorm parameters",
        }
        number(
            "dwsep_params",
            f"dwsep_params({cin}, {cout}, {k})",
            fn(cin, cout, k),
            expected,
            mistakes,
            "params = k*k*in_ch (depthwise) + 2*in_ch (its BatchNorm) + in_ch*out_ch (pointwise 1x1) "
            "+ 2*out_ch (its BatchNorm); print(ll.blocks.DepthwiseSeparable(8, 16, 3)) shows the layers",
            "the number of parameters (an int)",
        )
    return "correct: dwsep_params works"


def blocks_prediction(guess: float | None, report: Report) -> str:
    """Compare the learner's predicted speed-up of the depthwise-separable block over the standard conv (batch 1)
    with the one ``compare_blocks`` measured, and say why it is not the MAC ratio."""
    macs = report.ratio("macs", "conv", "dwsep")
    if report.disturbed(["latency_p50_b1"], ["conv", "dwsep"]):
        return (
            f"not measurable now: other programs disturbed the timing; rerun compare_blocks. MACs predict {macs:.1f}x."
        )
    why = (
        f"The MACs alone predict {macs:.1f}x. The depthwise half does only k*k MACs per value it reads, so it waits "
        "on memory rather than on the multipliers, its kernels are less tuned than one big matrix multiply, and the "
        "block has twice the layers, each with a fixed cost per call."
    )
    return prediction(guess, report.ratio("latency_p50_b1", "conv", "dwsep"), "the speed-up", "x", why)

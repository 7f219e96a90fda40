"""Checkers for notebook 04 (the Deep Compression pipeline)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from lightlab.face.checks.base import fail as _fail
from lightlab.face.checks.base import prediction
from lightlab.measurement.report import Report

# The textbook example (Cormen et al., Introduction to Algorithms, section 16.3): an optimal code costs 224 bits.
_COUNTS = {"a": 45, "b": 13, "c": 12, "d": 16, "e": 9, "f": 5}
_OPTIMAL_BITS = 224


def huffman_code_lengths(fn: Callable[[Mapping], Mapping]) -> str:
    """Check ``fn(counts)`` returns {symbol: code length} of an optimal prefix code (a Huffman code)."""
    what = f"huffman_code_lengths({_COUNTS})"
    got = fn(dict(_COUNTS))
    if got is None:
        _fail(what, got, "a dict {symbol: length}", "your function must `return` the dict of code lengths")
    got = dict(got)
    if set(got) != set(_COUNTS):
        _fail(what, sorted(got), sorted(_COUNTS), "give a length to every symbol of `counts`, and only to those")
    if any(not isinstance(n, int) or n < 1 for n in got.values()):
        _fail(
            what,
            got,
            "whole numbers >= 1",
            "a code length is a number of bits: at least 1 when there are several symbols",
        )
    kraft = sum(2.0**-n for n in got.values())
    if kraft > 1 + 1e-12:
        _fail(
            what,
            got,
            "lengths of a prefix code",
            f"sum of 2**-length is {kraft:.3f} > 1, so no prefix code has these lengths (Kraft's inequality): "
            "some codes are too short",
        )
    cost = sum(_COUNTS[s] * n for s, n in got.items())
    if cost != _OPTIMAL_BITS:
        hint = (
            "every length is one too many: the root of the tree has depth 0, a symbol's length is the number of "
            "merges above it"
            if cost == _OPTIMAL_BITS + sum(_COUNTS.values())
            else "not optimal: repeatedly merge the TWO LEAST frequent subtrees (a heap helps), and add 1 to the depth "
            "of every symbol in both"
        )
        _fail(f"total bits of {what}", cost, _OPTIMAL_BITS, hint)
    single = fn({"z": 7})
    if dict(single or {}) != {"z": 1}:
        _fail(
            "huffman_code_lengths({'z': 7})",
            single,
            {"z": 1},
            "a single symbol still needs one bit per occurrence (the loop never runs: handle it first)",
        )
    return f"correct: huffman_code_lengths works ({_OPTIMAL_BITS} bits for the textbook example)"


def shared_weight_bits(fn: Callable[[int, int], int]) -> str:
    """Check ``fn(kept, bits)`` returns the bits of ``kept`` k-means indices plus a float32 codebook."""
    cases = [((1000, 4), 1000 * 4 + 16 * 32), ((105_000, 5), 105_000 * 5 + 32 * 32), ((10, 8), 10 * 8 + 256 * 32)]
    for (kept, bits), expected in cases:
        got = fn(kept, bits)
        what = f"shared_weight_bits(kept={kept}, bits={bits})"
        if got is None:
            _fail(what, got, expected, "your function must `return` a number of bits")
        if got == kept * bits:
            _fail(what, got, expected, "the codebook is stored too: 2**bits shared values of 32 bits each")
        if got == kept * 32 + 2**bits * 32 or got == kept * bits + bits * 32:
            _fail(
                what,
                got,
                expected,
                "each weight stores a `bits`-wide index; the codebook has 2**bits entries of 32 bits",
            )
        if got != expected:
            _fail(what, got, expected, "bits = kept * bits (one index per kept weight) + 2**bits * 32 (the codebook)")
    return "correct: shared_weight_bits works"


def compression_prediction(guess: float | None, report: Report) -> str:
    """Compare the learner's predicted "times smaller" (fp32 file / coded file) with the real files, and say why."""
    ratio = report.ratio("size", "fp32", "coded")
    pruned = report.ratio("size", "fp32", "pruned")
    why = (
        f"Pruning alone made the file only {pruned:.0f}x smaller: each kept weight still costs 32 bits and the bitmap "
        "1 bit for every weight. Sharing turns each kept weight into a 4-bit index, and entropy coding squeezes the "
        "skewed bitmap and indices further: the stages multiply."
    )
    return prediction(guess, ratio, "how many times smaller the coded file is than the fp32 file", "x", why)

"""Checkers for notebook 10 (phones and wearables: does a model fit the device?)."""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from lightlab.face.checks.base import fail as _fail

# A small CNN's tensors, input first: 416, 3328, 768, 768, 32 and 10 values. The peak is the second layer
# (conv output 3328 + pooled 768), not the largest tensor alone, nor the sum of all.
_CNN = [(1, 32, 13), (8, 32, 13), (8, 16, 6), (768,), (32,), (10,)]
# A wide input: here the first layer (input + output) is the peak, so skipping the input shows.
_WIDE_INPUT = [(3, 64, 64), (8, 32, 32), (8, 16, 16), (10,)]


def _expected(shapes: list[tuple[int, ...]], bytes_per_value: int) -> int:
    sizes = [prod(s) for s in shapes]
    return max(a + b for a, b in zip(sizes, sizes[1:], strict=False)) * bytes_per_value


def peak_activation_bytes(fn: Callable[[list[tuple[int, ...]], int], int]) -> str:
    """Check ``fn(shapes, bytes_per_value)`` returns the largest input + output bytes of any one layer."""
    for shapes, bytes_per_value in ((_CNN, 4), (_CNN, 1), (_WIDE_INPUT, 4)):
        what = f"peak_activation_bytes({shapes}, bytes_per_value={bytes_per_value})"
        got = fn(list(shapes), bytes_per_value)
        expected = _expected(shapes, bytes_per_value)
        if got is None:
            _fail(what, got, expected, "your function must `return` the number of bytes")
        if got == expected:
            continue
        sizes = [prod(s) for s in shapes]
        mistakes = {
            sum(sizes) * bytes_per_value: "you added up every tensor: a layer-by-layer runtime frees a tensor once "
            "the next layer has read it, so only ONE layer's input and output are "
            "held at the same time; take the largest input + output pair",
            max(sizes) * bytes_per_value: "you took the largest tensor alone: the layer that writes it must still "
            "hold its input, so count input + output of each layer",
            _expected(shapes, 1): "multiply the number of values by bytes_per_value (4 for float32, 1 for int8)",
            _expected(shapes, 8 * bytes_per_value): "bytes_per_value is in bytes, not bits: do not multiply by 8",
            (sizes[0] + sizes[1]) * bytes_per_value: "you looked at the first layer only: check every layer",
            _expected(shapes[1:], bytes_per_value): "the first layer reads the network's input: shapes[0] is the "
            "input, so include the pair (shapes[0], shapes[1])",
        }
        _fail(
            what,
            got,
            expected,
            mistakes.get(
                got,
                "for each layer i (1, 2, ...), add the values of shapes[i - 1] "
                "(its input) and shapes[i] (its output); take the largest "
                "sum and multiply it by bytes_per_value",
            ),
        )
    return "correct: peak_activation_bytes works"

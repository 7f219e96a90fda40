"""Checkers for notebook 30 (a small language model on a CPU: KV cache, perplexity, decode bandwidth)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from lightlab.face.checks.base import fail, number

# SmolLM2-135M's attention with a 2-byte (fp16) cache, then a tiny one with 1-byte values: between them every
# factor of the formula shows (with 2-byte values alone, "x 4 bytes, no x 2" would pass).
_KV_CASES = [
    {"layers": 30, "kv_heads": 3, "head_dim": 64, "tokens": 1000, "bytes_per_value": 2},
    {"layers": 2, "kv_heads": 1, "head_dim": 8, "tokens": 10, "bytes_per_value": 1},
]
_QUERY_HEADS = 9
# Five losses a learner can work out by hand: their mean is 2.0 nats.
_LOSSES = [0.5, 1.0, 2.0, 3.0, 3.5]
# A model of 500 MB of weights decoding 25 tokens a second.
_WEIGHT_BYTES, _TOKENS_PER_S = 500e6, 25.0


def _kv_case(fn: Callable, k: dict) -> str:
    per_value = k["layers"] * k["kv_heads"] * k["head_dim"] * k["tokens"]
    expected = 2 * per_value * k["bytes_per_value"]
    both = "multiply by 2 (a key AND a value per head, layer and token) and by bytes_per_value"
    mistakes: dict[float, str] = {}
    for value, hint in [
        (
            per_value * k["bytes_per_value"],
            "the cache holds a key AND a value per head, layer and token: multiply by 2"
            if k["bytes_per_value"] != 2
            else both,
        ),
        (2 * per_value, "multiply by bytes_per_value: each number takes that many bytes"),
        (per_value, both),
        (per_value * 4, "use bytes_per_value, not a fixed 4 bytes, and multiply by 2 (a key AND a value)"),
        (2 * per_value * 4, "use bytes_per_value, not a fixed 4 bytes (fp32): a cache can be kept in fp16 or int8"),
        (expected * 8, "bytes_per_value is already in bytes: no factor 8 (that would be bits)"),
        (expected / k["layers"], "every layer keeps its own keys and values: multiply by the number of layers"),
        (expected / k["tokens"], "the cache holds every token of the context: multiply by tokens"),
        (expected * _QUERY_HEADS / k["kv_heads"], "use kv_heads, not the query heads"),
        (expected / k["head_dim"], "a key (and a value) is a vector of head_dim numbers per head"),
    ]:
        if value != expected:
            mistakes.setdefault(value, hint)
    return number(
        "kv_cache_bytes",
        "kv_cache_bytes(" + ", ".join(f"{name}={v}" for name, v in k.items()) + ")",
        fn(*k.values()),  # by position: a learner may name the arguments differently
        expected,
        mistakes,
        "2 (keys and values) x layers x kv_heads x head_dim x tokens x bytes_per_value",
        "the cache's size in bytes",
        digits=0,
    )


def kv_cache_bytes(fn: Callable) -> str:
    """Check ``fn(layers, kv_heads, head_dim, tokens, bytes_per_value)`` returns the KV cache's bytes."""
    for case in _KV_CASES:
        verdict = _kv_case(fn, case)
    return verdict


def perplexity_from_losses(fn: Callable) -> str:
    """Check ``fn(losses)`` returns exp(mean loss) for a tensor of per-token losses in nats."""
    losses = torch.tensor(_LOSSES)
    mean = sum(_LOSSES) / len(_LOSSES)
    expected = math.exp(mean)
    mistakes = {
        sum(math.exp(v) for v in _LOSSES) / len(_LOSSES): "take the exponential of the MEAN loss, not the mean of the "
        "exponentials (the mean of exp weighs the worst tokens far more)",
        math.exp(sum(_LOSSES)): "average the losses (divide by their number) before taking exp",
        mean: "perplexity is exp(mean loss): you returned the mean loss itself",
        2**mean: "these losses are natural-log losses (nats): use exp, not 2 ** (that is for bits)",
        math.exp(-mean): "the loss is already -log p: exp(+mean loss), no extra minus sign",
        10**mean: "these losses are natural-log losses (nats): use exp, not 10 **",
    }
    what = f"perplexity_from_losses(torch.tensor({_LOSSES}))"
    got = fn(losses.clone())
    if got is not None and torch.as_tensor(got).numel() != 1:
        fail(what, got, round(expected, 3), "return ONE number for all the tokens: average the losses, then exp")
    return number(
        "perplexity_from_losses",
        what,
        None if got is None else float(got),
        expected,
        mistakes,
        "exp of the mean of the losses: torch.exp(losses.mean())",
        "one number, exp(mean loss)",
    )


def decode_bandwidth(fn: Callable) -> str:
    """Check ``fn(weight_bytes, tokens_per_s)`` returns the bytes of weights read per second while decoding."""
    expected = _WEIGHT_BYTES * _TOKENS_PER_S
    mistakes = {
        _WEIGHT_BYTES / _TOKENS_PER_S: "each token reads every weight once: multiply the bytes by the tokens per "
        "second (dividing gives bytes x seconds per token, not bytes per second)",
        expected / 1e9: "return bytes per second; the notebook divides by 1e9 itself to write GB/s",
        expected * 8: "weight_bytes is already in bytes: no factor 8",
        expected * 2: "the reads are bytes of weights, not FLOPs: no factor 2",
        _TOKENS_PER_S / _WEIGHT_BYTES: "multiply the bytes by the tokens per second",
    }
    return number(
        "decode_bandwidth",
        f"decode_bandwidth(weight_bytes={_WEIGHT_BYTES:.0f}, tokens_per_s={_TOKENS_PER_S})",
        fn(_WEIGHT_BYTES, _TOKENS_PER_S),
        expected,
        mistakes,
        "one decode step reads every weight once, so bytes per second = weight_bytes x tokens_per_s",
        "bytes per second",
    )

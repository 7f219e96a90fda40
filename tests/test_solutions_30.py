import math

import pytest
import torch
from _solutions import load as solutions

import lightlab as ll
from lightlab.face.views import kv_cache as kv
from lightlab.face.views import llm as views


@pytest.fixture(scope="module")
def sol():
    return solutions("30_small_language_models")


def test_solutions_pass_the_checkers(sol):
    assert ll.checks.kv_cache_bytes(sol.kv_cache_bytes).startswith("correct")
    assert ll.checks.perplexity_from_losses(sol.perplexity_from_losses).startswith("correct")
    assert ll.checks.perplexity_from_losses(lambda losses: math.exp(sum(losses.tolist()) / len(losses)))
    assert ll.checks.decode_bandwidth(sol.decode_bandwidth).startswith("correct")


def test_the_solution_agrees_with_the_library(sol, tiny_llama):
    # 2 x 2 layers x 2 KV heads x 16 dims x 4 bytes, as generation.kv_bytes_per_token reads it from the config
    assert sol.kv_cache_bytes(2, 2, 16, 1, 4) == ll.generation.kv_bytes_per_token(tiny_llama)
    arch = views.architecture(tiny_llama)
    assert kv.kv_cache_bytes(arch, 100, batch=1, kv_heads=4, bytes_per_value=2) == sol.kv_cache_bytes(2, 4, 16, 100, 2)
    ids = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(0))
    losses = ll.generation.token_losses(tiny_llama, ids)
    assert sol.perplexity_from_losses(losses) == pytest.approx(ll.generation.perplexity(tiny_llama, ids), rel=1e-5)
    assert sol.tokens_that_fit(100e6, 4) == 2170 and sol.tokens_that_fit(100e6, 2) == 4340


def test_typical_kv_mistakes_get_their_hint():
    mistakes = {
        "key AND a value": lambda layers, kv, d, t, b: layers * kv * d * t * b,
        "not a fixed 4 bytes": lambda layers, kv, d, t, b: 2 * layers * kv * d * t * 4,
        "no factor 8": lambda layers, kv, d, t, b: 2 * layers * kv * d * t * b * 8,
        "number of layers": lambda layers, kv, d, t, b: 2 * kv * d * t * b,
        "multiply by tokens": lambda layers, kv, d, t, b: 2 * layers * kv * d * b,
        "not the query heads": lambda layers, kv, d, t, b: 2 * layers * 9 * d * t * b,
        "must `return`": lambda *args: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.kv_cache_bytes(wrong)
    # fp32 hard-coded and the 2 forgotten: right on the fp16 case, caught by the second one
    with pytest.raises(ll.checks.CheckFailed, match="bytes_per_value=1"):
        ll.checks.kv_cache_bytes(lambda layers, kv, d, t, b: layers * kv * d * t * 4)


def test_typical_perplexity_mistakes_get_their_hint():
    mistakes = {
        "not the mean of the exponentials": lambda x: x.exp().mean(),
        "divide by their number": lambda x: x.sum().exp(),
        "mean loss itself": lambda x: x.mean(),
        "not 2 \\*\\*": lambda x: 2 ** x.mean(),
        "no extra minus": lambda x: (-x.mean()).exp(),
        "ONE number": lambda x: x.exp(),
        "must `return`": lambda x: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.perplexity_from_losses(wrong)


def test_typical_bandwidth_mistakes_get_their_hint():
    mistakes = {
        "multiply the bytes by the tokens": lambda b, t: b / t,
        "divides by 1e9 itself": lambda b, t: b * t / 1e9,
        "no factor 8": lambda b, t: b * t * 8,
        "not FLOPs": lambda b, t: 2 * b * t,
        "must `return`": lambda b, t: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.decode_bandwidth(wrong)


def test_batch_decode_measures_every_batch(sol, tiny_llama):
    df = sol.batch_decode(tiny_llama, torch.tensor([[5, 17, 42, 7]]), batches=(1, 4), new_tokens=3, rounds=1)
    assert list(df.index) == [1, 4] and (df["ms per step"] > 0).all()
    assert df["vs batch 1 (x)"].iloc[0] == 1.0

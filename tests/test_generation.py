import math

import pytest
import torch

from lightlab.measurement import generation


def test_greedy_matches_transformers_generate(tiny_llama):
    prompt = torch.tensor([[5, 17, 42, 7]])
    reference = tiny_llama.generate(prompt, max_new_tokens=6, do_sample=False, min_new_tokens=6)[0, 4:]
    assert torch.equal(generation.greedy(tiny_llama, prompt, 6), reference)


def test_perplexity_is_exp_of_the_mean_next_token_loss(tiny_llama):
    ids = torch.randint(0, 256, (1, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss = tiny_llama(ids, labels=ids).loss
    assert generation.perplexity(tiny_llama, ids, window=64) == pytest.approx(math.exp(float(loss)), rel=1e-4)
    # Two windows read the same tokens with less context: never more than a little better.
    assert generation.perplexity(tiny_llama, ids, window=20) > 0


def test_kv_cache_bytes_follow_the_architecture(smollm2):
    # 2 (keys and values) x 30 layers x 3 KV heads x 64 dims x 4 bytes
    assert generation.kv_bytes_per_token(smollm2) == 46_080
    # The tied embedding counted once; the rest is the rotary frequencies buffer.
    assert 0 <= generation.weight_bytes(smollm2) - 134_515_008 * 4 < 1024


def test_prompt_too_long_or_from_another_tokenizer_is_refused(tiny_llama):
    with pytest.raises(ValueError, match="context is 96 tokens: shorten the prompt by 8"):
        generation.greedy(tiny_llama, torch.zeros(1, 90, dtype=torch.long), 14)
    with pytest.raises(ValueError, match="outside this model's vocabulary of 256.*tokenizer does not belong"):
        generation.perplexity(tiny_llama, torch.tensor([[1, 2, 40000]]))
    with pytest.raises(ValueError, match="non-empty"):
        generation.greedy(tiny_llama, torch.zeros(1, 0, dtype=torch.long), 2)


def test_measure_lm_rows_carry_methods(tiny_llama):
    prompt, text = torch.tensor([[5, 17, 42, 7]]), torch.randint(0, 256, (1, 32))
    report = generation.measure_lm({"tiny": tiny_llama}, prompt, text, new_tokens=4, energy=False, rounds=2)
    rows = {r["metric"]: r for r in report.rows}
    for metric in ("file_size", "weights_memory", "kv_cache_per_token", "kv_cache", "perplexity",
                   "time_to_first_token", "prefill_tokens_per_s", "decode_tokens_per_s"):  # fmt: skip
        assert rows[metric]["method"]
    assert rows["kv_cache"]["value"] == rows["kv_cache_per_token"]["value"] * 8
    assert rows["file_size"]["value"] > rows["weights_memory"]["value"] * 0.9
    assert "best of 2 alternating rounds" in rows["decode_tokens_per_s"]["method"]


def test_energy_per_token_names_its_method(tiny_llama):
    prompt = torch.tensor([[5, 17, 42, 7]])
    report = generation.measure_lm({"tiny": tiny_llama}, prompt, new_tokens=4, energy=True, rounds=1)
    row = next(r for r in report.rows if r["metric"] == "energy_per_token")
    assert "one greedy generation of 4 tokens per call" in row["method"]
    assert math.isnan(row["value"]) or row["value"] > 0
    with pytest.raises(ValueError, match="models is empty"):
        generation.measure_lm({}, prompt)

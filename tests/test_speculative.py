import pytest
import torch

from lightlab.measurement.generation import greedy
from lightlab.techniques import speculative
from lightlab.techniques.grids import Grid
from lightlab.techniques.lmquant import LMQuantConfig, quantize_lm
from lightlab.techniques.speculative import SpecConfig, lookup, speculative_greedy


def test_lookup_copies_what_followed_the_last_ngram():
    context = [1, 2, 3, 4, 5, 9, 2, 3]
    assert lookup(context, ngram=2, k=3) == [4, 5, 9]
    assert lookup([7, 8, 9], ngram=3, k=2) == []


@pytest.mark.parametrize("draft_tokens", [1, 3, 5])
def test_output_is_the_targets_greedy_output_whatever_the_drafter(tiny_llama, draft_tokens):
    prompt = torch.tensor([[5, 17, 42, 7, 5, 17]])
    reference = greedy(tiny_llama, prompt, 20)
    bad_draft = quantize_lm(tiny_llama, LMQuantConfig(Grid(2, 32)))  # guesses often wrong
    for draft in (tiny_llama, bad_draft, None):
        result = speculative_greedy(tiny_llama, draft, prompt, 20, SpecConfig(draft_tokens))
        assert torch.equal(result.tokens, reference)
    perfect = speculative_greedy(tiny_llama, tiny_llama, prompt, 20, SpecConfig(draft_tokens))
    assert perfect.acceptance_rate == 1.0 and perfect.tokens_per_round > 1


def test_a_4_bit_smollm2_drafts_for_the_fp32_one(smollm2, smol_tokenizer):
    msgs = [{"role": "user", "content": "Explain what a Python list is."}]
    prompt = smol_tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    draft = quantize_lm(smollm2, LMQuantConfig(Grid(4, 32)))
    result = speculative_greedy(smollm2, draft, prompt, 24, SpecConfig(4))
    assert torch.equal(result.tokens, greedy(smollm2, prompt, 24))
    assert result.acceptance_rate > 0.6


def test_compare_reports_acceptance_and_identity(tiny_llama):
    report = speculative.compare_speculative(tiny_llama, {"self": tiny_llama}, torch.tensor([[3, 4, 5]]), 8, repeats=1)
    rows = {(r["model"], r["metric"]): r["value"] for r in report.rows}
    assert rows[("self", "identical_to_greedy")] == 1.0 and rows[("self", "acceptance_rate")] == 100.0
    assert rows[("greedy", "generation_tokens_per_s")] > 0


def test_bad_settings_are_explained(tiny_llama):
    with pytest.raises(ValueError, match="draft_tokens must be a whole number from 1 to 16"):
        SpecConfig(draft_tokens=0)
    with pytest.raises(ValueError, match="batch 1"):
        speculative_greedy(tiny_llama, None, torch.zeros(2, 3, dtype=torch.long), 4)
    with pytest.raises(ValueError, match="context is 96 tokens"):
        speculative_greedy(tiny_llama, None, torch.zeros(1, 90, dtype=torch.long), 8)

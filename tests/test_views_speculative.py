"""views.speculative: pass timings, the rounds read from the target's passes, the sweep and its explorer, on a tiny
seeded Llama (the real SmolLM2 runs in the notebook)."""

import pandas as pd
import pytest
import torch
from _figures import problems

import lightlab as ll
from lightlab.face.views import speculative as views
from lightlab.techniques.grids import Grid
from lightlab.techniques.lmquant import LMQuantConfig, quantize_lm
from lightlab.techniques.speculative import SpecConfig

PROMPT = torch.tensor([[5, 17, 42, 7, 5, 17, 42, 9]])


@pytest.fixture(scope="module")
def bad_draft(tiny_llama):
    return quantize_lm(tiny_llama, LMQuantConfig(Grid(2, 32)))


def test_expected_tokens_and_speedup_follow_leviathan():
    assert views.expected_tokens(0.8, 4) == pytest.approx((1 - 0.8**5) / 0.2)
    assert views.expected_tokens(1.0, 4) == 5 and views.expected_tokens(0.0, 6) == 1
    assert views.expected_speedup(1.0, 4, 1.0) == pytest.approx(1.0)  # a draft as costly as the target: no gain
    assert views.expected_speedup(0.9, 4, 0.0) == pytest.approx(views.expected_tokens(0.9, 4))


def test_pass_times_leave_the_cache_as_they_found_it(tiny_llama):
    df = views.pass_times({"tiny": tiny_llama}, PROMPT, sizes=(3, 1), repeats=1)
    assert list(df.tokens) == [1, 3] and (df.batch == 1).all() and (df.ms > 0).all()
    assert df.relative.iloc[0] == 1.0
    assert views.plot_pass_times(df).data[0].name == "tiny"
    wide = views.pass_times({"tiny": tiny_llama}, PROMPT, sizes=(1, 2), batches=(3, 1), repeats=1)
    assert list(wide.batch) == [1, 1, 3, 3] and list(wide.relative[[0, 2]]) == [1.0, 1.0]
    fig = views.plot_pass_times(wide)
    assert [t.name for t in fig.data] == ["tiny, batch 1", "tiny, batch 1", "tiny, batch 3", "tiny, batch 3"]
    assert problems(fig.to_plotly_json()) == []
    with pytest.raises(ValueError, match="token counts >= 1"):
        views.pass_times({"tiny": tiny_llama}, PROMPT, sizes=(0,))


def test_rounds_are_read_from_the_real_generation(tiny_llama, bad_draft):
    for draft in (bad_draft, None):
        result, rounds = views.speculation_rounds(tiny_llama, draft, PROMPT, 12, SpecConfig(3))
        assert len(rounds) == result.rounds and rounds["accepted"].sum() == result.accepted
        assert rounds["guessed"].sum() == result.proposed
        assert rounds["tokens gained"].sum() + 1 >= 12  # the prompt's pass gives the first token
        assert 0 <= views.per_token_acceptance(rounds) <= 1
    with pytest.raises(ValueError, match="another model"):
        views.speculation_rounds(tiny_llama, tiny_llama, PROMPT, 4)


def test_rounds_show_tokens_as_text_when_given_a_tokenizer(tiny_llama, bad_draft):
    class Letters:
        def decode(self, ids):
            return "".join(chr(97 + i % 26) for i in ids)

    _, rounds = views.speculation_rounds(tiny_llama, bad_draft, PROMPT, 6, SpecConfig(2), Letters())
    assert rounds["target's own token"].str.fullmatch(r"\[[a-z]\]").all()


def test_per_token_acceptance_counts_only_judged_guesses():
    rounds = pd.DataFrame({"guessed": [4, 4, 2, 0], "accepted": [4, 1, 2, 0]})
    assert views.per_token_acceptance(rounds) == pytest.approx(7 / 8)  # one rejection, in round 2


def test_sweep_and_explorer(tiny_llama, bad_draft):
    sweep = views.sweep_draft_tokens(tiny_llama, bad_draft, PROMPT, 8, ks=(1, 3))
    assert list(sweep.k) == [1, 3] and sweep.identical.all() and (sweep.speedup > 0).all()
    assert {"acceptance_rate", "alpha", "tokens_per_pass", "ms", "greedy_ms", "disturbed"} <= set(sweep.columns)
    fig = views.plot_draft_length(sweep, cost=0.3, k=3)
    assert [t.name for t in fig.data][:2] == [t.name for t in fig.data][2:] and len(fig.data) == 4
    assert problems(fig.to_plotly_json()) == []
    explorer = views.DraftLengthExplorer(sweep, cost=0.3)
    assert explorer.k.value == 3  # no k = 4 in this sweep: the middle one
    first = explorer.run()
    explorer.k.value = 1
    assert explorer.result["k"] == 1 and first["k"] == 3
    explorer.k.value = 3
    alpha = views.pooled_alpha(sweep)
    assert explorer.result["formula_speedup"] == pytest.approx(views.expected_speedup(alpha, 3, 0.3))
    assert "k = 3" in explorer.summary.value and "tokens per checking pass" in explorer.summary.value
    with pytest.raises(ValueError, match="sweep is empty"):
        views.DraftLengthExplorer(sweep.iloc[:0], 0.3)


def test_break_even_draws_the_curves_and_the_drafts():
    def sweep(alpha, speedup):
        return pd.DataFrame({"k": [2, 4], "alpha": alpha, "speedup": speedup, "disturbed": [False, True]})

    drafts = {"int4": (sweep(0.9, 1.5), 0.25), "int2": (sweep(0.0, 0.5), 0.3)}
    fig = views.plot_break_even(drafts, k=4, alphas=(0.5, 1.0))
    assert [t.name for t in fig.data] == ["formula, α = 0.5", "formula, α = 1", "measured drafts"]
    assert fig.data[1].y[50] == pytest.approx(1.0)  # alpha 1 at c = 1: (k + 1) / (k + 1)
    assert list(fig.data[2].x) == [0.25, 0.3] and list(fig.data[2].y) == [1.5, 0.5]
    assert "disturbed" in fig.data[2].hovertext[0]
    assert problems(fig.to_plotly_json()) == []
    with pytest.raises(ValueError, match="has no k = 3"):
        views.plot_break_even(drafts, k=3)
    assert isinstance(ll.views.speculative.DraftLengthExplorer, type)

"""views.llm: the model's card, size and architecture, the prefill/decode sweep, bytes and FLOPs per second, energy
methods and surprising tokens, on a tiny seeded Llama (the real SmolLM2 runs in the notebook)."""

import math

import pytest
import torch
from _figures import problems

import lightlab as ll
from lightlab.face.views import llm as views

PROMPT = torch.randint(0, 256, (1, 24), generator=torch.Generator().manual_seed(0))


class Letters:
    """A tokenizer stand-in: token i is a letter, token 2 ends the turn."""

    eos_token_id = 2

    def decode(self, ids, skip_special_tokens=False):
        return "".join(chr(97 + i % 26) for i in ids)


@pytest.fixture(scope="module")
def arch(tiny_llama):
    return views.architecture(tiny_llama, "tiny")


def test_architecture_reads_the_config_and_counts_tied_weights_once(tiny_llama, arch):
    assert (arch.layers, arch.query_heads, arch.kv_heads, arch.head_dim, arch.context) == (2, 4, 2, 16, 96)
    assert arch.params == sum(p.numel() for p in tiny_llama.parameters())
    assert arch.weight_bytes == ll.generation.weight_bytes(tiny_llama) >= 4 * arch.params
    assert arch.table().loc["key/value heads", "meaning"] == "shared: 2 query heads per KV head"
    split = views.parameter_split(tiny_llama)
    assert split["parameters"].sum() == arch.params and math.isclose(split["share (%)"].sum(), 100, abs_tol=0.5)
    assert "token embedding (also the output layer: tied)" in split.index


def test_card_and_reply():
    styled = views.card_table("smollm2-135m")
    card = styled.data
    assert card.loc["what the baseline really is", "card"] in styled.to_html()  # the whole text, never cut
    assert card.loc["licence", "card"] == "Apache-2.0" and "4-bit" in card.loc["what the baseline really is", "card"]
    assert views.reply(Letters(), torch.tensor([0, 1, 2, 3])) == "ab"  # stops at the end of the turn
    assert views.reply(Letters(), torch.tensor([[0, 1]])) == "ab …"  # cut short: says so


def test_sizes_put_the_model_among_the_zoo(tiny_llama):
    sizes = views.zoo_sizes(tiny_llama, "tiny")
    assert set(ll.zoo.names()) | {"tiny", "minilm-l6", "efficientnet-lite0"} == set(sizes["model"])
    assert sizes["parameters"].is_monotonic_increasing and (sizes["fp32 bytes"] == 4 * sizes["parameters"]).all()
    fig = views.plot_sizes(sizes, highlight="tiny")
    assert fig.layout.xaxis.type == "log" and len(set(fig.data[0].marker.color)) == 2
    assert problems(fig.to_plotly_json()) == []


def test_sweep_times_prefill_and_every_decode_step(tiny_llama):
    sweep = views.generation_sweep(tiny_llama, PROMPT, (8, 2), new_tokens=4, rounds=2)
    assert list(sweep.prompt_tokens.unique()) == [2, 8] and (sweep.ms > 0).all()
    assert list(sweep[sweep.prompt_tokens == 2].token) == [1, 2, 3, 4]
    assert list(sweep[sweep.prompt_tokens == 2].phase) == ["prefill", "decode", "decode", "decode"]
    table = views.prefill_table(sweep)
    assert list(table.index) == [2, 8]
    prefill_ms = sweep[(sweep.prompt_tokens == 8) & (sweep.phase == "prefill")].ms.iloc[0]
    assert table.loc[8, "prefill (tokens/s)"] == pytest.approx(8 / prefill_ms * 1e3, abs=0.5)
    fig = views.plot_prefill_decode(sweep)
    assert [t.name for t in fig.data] == [
        "prefill (measured)", "the same tokens one decode step each",
        "decode after a 2-token prompt", "decode after a 8-token prompt",
    ]  # fmt: skip
    assert problems(fig.to_plotly_json()) == []
    with pytest.raises(ValueError, match="between 1 and the 24 tokens given"):
        views.generation_sweep(tiny_llama, PROMPT, (8, 30), new_tokens=4)
    with pytest.raises(ValueError, match="new_tokens >= 2"):
        views.generation_sweep(tiny_llama, PROMPT, (8,), new_tokens=1)


def test_bandwidth_table_reads_every_weight_once_per_pass():
    arch = views.Architecture("m", 30, 576, 1536, 9, 3, 64, 49152, 8192, params=100_000_000, weight_bytes=400_000_000)
    report = ll.Report().add("m", "prefill_tokens_per_s", 500, "tokens/s", "timed")
    report.add("m", "decode_tokens_per_s", 25, "tokens/s", "timed", note="disturbed: busy")
    df = views.bandwidth_table(report, arch, prompt_tokens=50)
    decode, prefill = df.loc["decode (one pass per token)"], df.loc["prefill (50-token prompt, one pass)"]
    assert decode["weights read (GB/s)"] == 10.0 and decode["arithmetic (GFLOP/s)"] == 5.0
    assert prefill["weights read (GB/s)"] == 4.0 and prefill["arithmetic (GFLOP/s)"] == 100.0
    assert decode["FLOPs per byte of weights read"] == 0.5 and prefill["FLOPs per byte of weights read"] == 25.0
    assert (df["note"] == "disturbed: other programs were busy").all()


def test_energy_model_reads_every_weight_once():
    arch = views.Architecture("m", 1, 1, 1, 1, 1, 1, 1, 1, params=1_000_000, weight_bytes=4_000_000)
    df = views.energy_model(arch).data
    assert df.iloc[0]["energy per token"] == "640 µJ"  # a million 32-bit words at 640 pJ each
    assert df.iloc[1]["energy per token"] == "4.60 µJ"  # a million multiply-adds at 3.7 + 0.9 pJ


def test_methods_and_surprises(tiny_llama):
    report = ll.Report().add("m", "energy_per_token", 0.5, "J", "estimated (CodeCarbon)", note="disturbed: load")
    df = views.methods(report, ["energy_per_token"]).data
    assert df.loc["energy per token", "value"] == "500 mJ (disturbed)"
    assert df.loc["energy per token", "how it was obtained"] == "estimated (CodeCarbon)"
    ids = PROMPT[:, :20]
    losses = ll.generation.token_losses(tiny_llama, ids, window=8)
    assert len(losses) == len(views._scored(20, 8)) == 17  # windows [0, 8), [8, 16), [16, 20): 7 + 7 + 3
    table = views.surprises(Letters(), ids, losses, n=2, window=8).data
    assert list(table["which"]) == ["most surprising"] * 2 + ["least surprising"] * 2
    assert "most surprising" in views.surprises(Letters(), ids, losses, n=1, window=8).to_html()  # renders whole
    assert table["loss (nats)"].iloc[0] == pytest.approx(float(losses.max()), abs=0.01)
    with pytest.raises(ValueError, match="pass the window token_losses used"):
        views.surprises(Letters(), ids, losses, window=256)
    fig = views.plot_token_losses(losses, vocab=256)
    assert "5.5 = a uniform guess" in fig.layout.xaxis.title.text
    assert f"exp(mean) = {math.exp(float(losses.mean())):.1f}" in fig.layout.title.text
    assert problems(fig.to_plotly_json()) == []

"""views.kv_cache: the cache's bytes from the architecture, the stacked memory chart and the explorer, driven from
its controls (a tiny seeded Llama's architecture; the formula needs no model run)."""

import pytest
from _figures import problems

from lightlab.face.views import kv_cache as kv
from lightlab.face.views import llm as views


@pytest.fixture(scope="module")
def arch(tiny_llama):
    return views.architecture(tiny_llama, "tiny")


def test_kv_cache_and_memory_chart(arch):
    assert kv.kv_cache_bytes(arch, 10) == 2 * 2 * 2 * 16 * 4 * 10
    assert kv.kv_cache_bytes(arch, 10, batch=3, kv_heads=4, bytes_per_value=1) == 2 * 2 * 4 * 16 * 10 * 3
    fig = kv.plot_memory_split(arch, batch=2, context=50)
    assert [t.name for t in fig.data][:2] == ["weights", "KV cache (2 KV heads)"] and len(fig.data) == 3
    assert fig.data[1].y[-1] * 1e6 == pytest.approx(kv.kv_cache_bytes(arch, arch.context, batch=2))
    assert fig.data[2].y[-1] * 1e6 == pytest.approx(arch.weight_bytes + kv.kv_cache_bytes(arch, 96, 2, 4))
    assert {s.x0 for s in fig.layout.shapes} == {50}
    assert len(kv.plot_memory_split(arch, kv_heads=arch.query_heads).data) == 2  # no "what MHA would add"
    assert problems(fig.to_plotly_json()) == []


def test_explorer_answers_from_the_formula(arch):
    explorer = kv.KVCacheExplorer(arch, context=5000)
    assert explorer.context.value == arch.context  # clipped to the model's context
    first = explorer.run()
    assert first["kv_cache"] == kv.kv_cache_bytes(arch, arch.context)
    explorer.batch.value = 4
    assert explorer.result["kv_cache"] == 4 * first["kv_cache"]
    assert explorer.result["crossover_tokens"] == pytest.approx(arch.weight_bytes / (4 * first["kv_per_token"]))
    explorer.attention.value = 1
    explorer.precision.value = 2
    assert explorer.result["kv_cache"] == kv.kv_cache_bytes(arch, arch.context, 4, 1, 2)
    assert (
        "batch 4 × 96 tokens" in explorer.summary.value and "128 B per token of one sequence" in explorer.summary.value
    )

"""The KV cache of notebook 30: its bytes from the architecture, weights and cache stacked against the context, and
``KVCacheExplorer`` (context, batch, attention type, cache precision -> memory, from the formula alone)."""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go

from lightlab.face.plots import colour
from lightlab.face.views.llm import MB, Architecture, title_legend_panels
from lightlab.face.widgets import FULL_LABEL, Explorer, slider
from lightlab.measurement.units import human


def kv_cache_bytes(
    arch: Architecture, tokens: int, batch: int = 1, kv_heads: int | None = None, bytes_per_value: int = 4
) -> int:
    """Return the KV cache's bytes: 2 (keys and values) x layers x KV heads x head size x bytes x tokens x batch."""
    heads = arch.kv_heads if kv_heads is None else kv_heads
    return 2 * arch.layers * heads * arch.head_dim * bytes_per_value * int(tokens) * int(batch)


def plot_memory_split(
    arch: Architecture,
    batch: int = 1,
    kv_heads: int | None = None,
    bytes_per_value: int = 4,
    context: int | None = None,
) -> go.Figure:
    """Return the memory of weights and KV cache stacked against the context (0 to the model's limit), with what
    full multi-head attention's cache would add, and a mark at ``context`` when given."""
    heads = arch.kv_heads if kv_heads is None else kv_heads
    tokens = np.linspace(0, arch.context, 65).round()
    kv = np.array([kv_cache_bytes(arch, t, batch, heads, bytes_per_value) for t in tokens]) / MB
    full = np.array([kv_cache_bytes(arch, t, batch, arch.query_heads, bytes_per_value) for t in tokens]) / MB
    weights = np.full_like(tokens, arch.weight_bytes / MB)
    fig = go.Figure()
    fig.add_scatter(x=tokens, y=weights, name="weights", stackgroup="memory", line={"color": colour(0)})
    fig.add_scatter(x=tokens, y=kv, name=f"KV cache ({heads} KV heads)", stackgroup="memory",
                    line={"color": colour(1)})  # fmt: skip
    if heads != arch.query_heads:
        name = f"weights + KV cache if all {arch.query_heads} query heads had their own keys and values"
        fig.add_scatter(x=tokens, y=weights + full, name=name, mode="lines", line={"color": colour(3), "dash": "dash"})
    if context is not None:
        fig.add_vline(x=context, line_dash="dot", line_color="grey")
    fig.update_xaxes(title_text="context: tokens held in the cache, per sequence", range=[0, arch.context])
    fig.update_yaxes(title_text="memory (MB)", rangemode="tozero")
    title = f"{arch.name}: weights and KV cache, batch {batch}, {bytes_per_value}-byte cache values"
    title_legend_panels(fig, title, 440, 110, 50, 8)
    return fig


class KVCacheExplorer(Explorer):
    """Context length, batch size, attention type and cache precision -> weights and KV cache, from the formula
    alone (no model runs: every answer is instant)."""

    def __init__(self, arch: Architecture, context: int = 2048, batch: int = 1):
        self.arch = arch
        self.context = slider(w.IntSlider, "context (tokens per sequence)", min(context, arch.context), 1, arch.context)
        self.batch = slider(w.IntSlider, "batch (sequences at once)", batch, 1, 64)
        self.attention = w.Dropdown(
            options={
                f"grouped-query: {arch.kv_heads} KV heads (as built)": arch.kv_heads,
                f"multi-head: {arch.query_heads} KV heads": arch.query_heads,
                "multi-query: 1 KV head": 1,
            },
            value=arch.kv_heads,
            description="attention",
            style=FULL_LABEL,
        )
        self.precision = w.Dropdown(
            options={"fp32 (4 bytes)": 4, "fp16 or bf16 (2 bytes)": 2, "int8 (1 byte)": 1},
            value=4,
            description="cache values",
            style=FULL_LABEL,
        )
        self.result: dict | None = None
        self.layout((self.context, self.batch), (self.attention, self.precision))

    def run(self) -> dict:
        """Work out the memory split for the current settings, redraw, and return it (bytes)."""
        a, heads, size = self.arch, self.attention.value, self.precision.value
        kv = kv_cache_bytes(a, self.context.value, self.batch.value, heads, size)
        per_token = kv_cache_bytes(a, 1, self.batch.value, heads, size)
        crossover = a.weight_bytes / per_token  # tokens per sequence at which the cache outweighs the weights
        self.result = {"weights": a.weight_bytes, "kv_cache": kv, "total": a.weight_bytes + kv,
                       "kv_per_token": per_token, "crossover_tokens": crossover}  # fmt: skip
        self.redraw(plot_memory_split(a, self.batch.value, heads, size, self.context.value))
        passes = (
            f"the cache outweighs the weights from {crossover:,.0f} tokens per sequence"
            if crossover <= a.context
            else f"the cache stays below the weights even at the full {a.context:,} tokens"
        )
        self.summary.value = (
            f"batch {self.batch.value} × {self.context.value:,} tokens: KV cache {human(kv, 'bytes')} "
            f"({human(kv_cache_bytes(a, 1, 1, heads, size), 'bytes')} per token of one sequence) + weights "
            f"{human(a.weight_bytes, 'bytes')} = "
            f"{human(a.weight_bytes + kv, 'bytes')}; {passes}"
        )
        return self.result

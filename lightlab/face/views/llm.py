"""The face of notebook 30 (a small language model on a CPU): the model's card, architecture and size against the
zoo, prefill against decode, bytes and arithmetic per second, energy methods, and the tokens the model found most
surprising. The KV cache's chart and explorer are in ``views.kv_cache``."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from pandas.io.formats.style import Styler
from plotly.subplots import make_subplots
from torch import nn

from lightlab import config
from lightlab.face.plots import colour
from lightlab.measurement import measure
from lightlab.measurement.generation import context_length, time_generation, weight_bytes
from lightlab.measurement.meter import FOREIGN_LOAD_LIMIT, cpu_seconds, foreign_cores
from lightlab.measurement.profiles import DRAM_J_PER_WORD, FP32_ADD_J, FP32_MULT_J
from lightlab.measurement.report import Report, is_disturbed
from lightlab.measurement.units import human, readable
from lightlab.models import packaged, zoo

MB = 1e6


def title_legend_panels(fig: go.Figure, title: str, height: int, top: int, bottom: int, gap: int) -> None:
    """Stack, from the top: the title, a horizontal legend ending ``gap`` pixels above the plot, then the plot (and
    its panel titles, under the legend): none is drawn over another."""
    plot_height = height - top - bottom
    fig.update_layout(
        title={"text": title, "y": 0.985, "yanchor": "top"},
        height=height,
        margin={"t": top, "b": bottom, "l": 70, "r": 20},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1 + gap / plot_height, "yanchor": "bottom",
                "traceorder": "normal"},
    )  # fmt: skip


# --- 1. Meet the model ------------------------------------------------------------------------------------------


def _full_text(df: pd.DataFrame) -> Styler:
    """Return ``df`` styled to show every cell's whole text, left-aligned (a plain DataFrame cuts text at 50
    characters); ``.data`` is the DataFrame."""
    return df.style.format(precision=2).set_properties(**{"text-align": "left", "white-space": "pre-wrap"})


def reply(tokenizer, tokens: torch.Tensor) -> str:
    """Return generated ``tokens`` as text up to the end of the model's turn, with "…" when it was cut short."""
    tokens = [int(t) for t in torch.as_tensor(tokens).reshape(-1)]
    end = tokenizer.eos_token_id
    cut = tokens.index(end) if end in tokens else None
    text = tokenizer.decode(tokens[:cut], skip_special_tokens=True).strip()
    return text if cut is not None else f"{text} …"


@dataclass(frozen=True)
class Architecture:
    """The numbers of a decoder-only transformer that set its memory: read once, then every answer is arithmetic."""

    name: str
    layers: int
    hidden: int
    mlp: int
    query_heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    context: int
    params: int
    weight_bytes: int

    def table(self) -> pd.DataFrame:
        """Return the numbers with what each one means."""
        rows = [
            ("layers (transformer blocks)", self.layers, "each has attention, then an MLP"),
            ("hidden size", self.hidden, "numbers that describe one token between blocks"),
            ("MLP size", self.mlp, "each MLP widens a token to this many numbers"),
            ("query heads", self.query_heads, "attention patterns computed in parallel"),
            ("key/value heads", self.kv_heads, f"shared: {self.query_heads // self.kv_heads} query heads per KV head"),
            ("head size", self.head_dim, "numbers per head and token"),
            ("vocabulary", self.vocab, "tokens it can read and write"),
            ("context", self.context, "most tokens it can attend to (prompt + answer)"),
            ("parameters", self.params, "embedding and output layer are tied: counted once"),
            ("weights in memory", human(self.weight_bytes, "bytes"), "fp32: 4 bytes per parameter"),
        ]
        return pd.DataFrame(rows, columns=["", "value", "meaning"]).set_index("")


def architecture(model: nn.Module, name: str = "SmolLM2-135M") -> Architecture:
    """Return the architecture of a Llama-style causal LM from its config, its parameters and its weight bytes."""
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    params = sum(p.numel() for p in model.parameters())  # a tied tensor is listed once
    return Architecture(
        name, c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads,
        c.num_key_value_heads, head_dim, c.vocab_size, context_length(model), params, weight_bytes(model),
    )  # fmt: skip


def card_table(name: str) -> Styler:
    """Return a packaged model's card as a two-column table: where it comes from, its licence, what it really is."""
    c = packaged.card(name)
    rows = [
        ("source", c.source),
        ("licence", c.licence),
        ("package", f"{c.requirement} (file {c.file}, sha256 checked)"),
        ("parameters", f"{c.parameters:,}"),
        ("what the baseline really is", c.baseline),
    ]
    return _full_text(pd.DataFrame(rows, columns=["", "card"]).set_index(""))


_PARTS = [  # (name fragment, part), first match wins
    ("embed_tokens", "token embedding (also the output layer: tied)"),
    ("q_proj", "attention: queries"),
    ("k_proj", "attention: keys and values"),
    ("v_proj", "attention: keys and values"),
    ("o_proj", "attention: output"),
    ("mlp", "MLP (gate, up, down)"),
    ("norm", "norms"),
]


def parameter_split(model: nn.Module) -> pd.DataFrame:
    """Return the parameters of each part of a Llama-style model, their share and their fp32 bytes."""
    counts: dict[str, int] = {}
    for pname, p in model.named_parameters():  # a tied tensor is listed once, under its first name
        part = next((part for key, part in _PARTS if key in pname), "other")
        counts[part] = counts.get(part, 0) + p.numel()
    df = pd.DataFrame({"parameters": counts}).sort_values("parameters", ascending=False)
    df["share (%)"] = (100 * df["parameters"] / df["parameters"].sum()).round(1)
    df["fp32 bytes"] = [human(4 * n, "bytes") for n in df["parameters"]]
    df.index.name = "part"
    return df


def zoo_sizes(model: nn.Module, name: str = "SmolLM2-135M") -> pd.DataFrame:
    """Return the parameters and fp32 bytes of every zoo model, the other packaged models and ``model``, smallest
    first (the zoo's are built untrained: their size does not need weights)."""
    rows = [{"model": n, "parameters": sum(p.numel() for p in zoo.create(n).parameters())} for n in zoo.names()]
    rows += [
        {"model": c.name, "parameters": c.parameters}
        for c in packaged.CARDS.values()
        if c.name != "smollm2-135m" and "int8" not in c.name  # an int8 copy of a model already listed
    ]
    rows.append({"model": name, "parameters": sum(p.numel() for p in model.parameters())})
    df = pd.DataFrame(rows).sort_values("parameters").reset_index(drop=True)
    df["fp32 bytes"] = 4 * df["parameters"]
    return df


def plot_sizes(sizes: pd.DataFrame, highlight: str = "SmolLM2-135M") -> go.Figure:
    """Return a bar per model of a ``zoo_sizes`` table, parameters on a log axis, its fp32 bytes written on it."""
    colours = [colour(1) if m == highlight else colour(0) for m in sizes["model"]]
    fig = go.Figure(
        go.Bar(
            x=sizes["parameters"],
            y=sizes["model"],
            orientation="h",
            marker_color=colours,
            text=[human(b, "bytes") for b in sizes["fp32 bytes"]],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_xaxes(type="log", title_text="parameters (log scale; each bar is labelled with its fp32 bytes)")
    fig.update_layout(
        title="How big is a 'small' language model? Parameters of every model in this course",
        height=28 * len(sizes) + 140,
        margin={"t": 60, "b": 50, "l": 160, "r": 80},
        showlegend=False,
    )
    return fig


# --- 2. Prefill against decode ----------------------------------------------------------------------------------


def generation_sweep(
    model: nn.Module, ids: torch.Tensor, lengths: Iterable[int], new_tokens: int, rounds: int | None = None
) -> pd.DataFrame:
    """Return, for prompts of the first n tokens of ``ids`` (n in ``lengths``), the prefill time (token 1) and the
    time of each decode step after it (tokens 2, 3, ...), timed in alternating rounds, each keeping its best.

    Columns: prompt_tokens, token, phase ("prefill" or "decode"), ms, note ("disturbed: ..." when other programs
    used more than 0.3 cores over the sweep).
    """
    lengths = sorted({int(n) for n in lengths})
    if not lengths or lengths[0] < 1 or lengths[-1] > ids.shape[-1] or new_tokens < 2:
        raise ValueError(
            f"need prompt lengths between 1 and the {ids.shape[-1]} tokens given and new_tokens >= 2, got lengths "
            f"{lengths} and new_tokens={new_tokens}"
        )
    rounds = int(rounds if rounds is not None else config.pick(measure.ROUNDS, 2))
    prefill_ms: dict[int, float] = {}
    decode_ms: dict[int, list[float]] = {}
    busy0, own0 = cpu_seconds()
    start = time.perf_counter()
    for _ in range(rounds):  # lengths take turns: a slow spell of the machine hits them all
        for n in lengths:
            pre, dec = time_generation(model, ids[..., :n], new_tokens)
            prefill_ms[n] = min(prefill_ms.get(n, np.inf), pre.p50)
            if n not in decode_ms or dec.p50 < statistics.median(decode_ms[n]):
                decode_ms[n] = dec.samples_ms
    busy1, own1 = cpu_seconds()
    load = foreign_cores(busy1 - busy0, own1 - own0, time.perf_counter() - start)
    note = f"disturbed: other processes used {load:.1f} cores" if load > FOREIGN_LOAD_LIMIT else ""
    rows = []
    for n in lengths:
        rows.append({"prompt_tokens": n, "token": 1, "phase": "prefill", "ms": prefill_ms[n], "note": note})
        rows += [
            {"prompt_tokens": n, "token": i, "phase": "decode", "ms": ms, "note": note}
            for i, ms in enumerate(decode_ms[n], start=2)
        ]
    return pd.DataFrame(rows)


def prefill_table(sweep: pd.DataFrame) -> pd.DataFrame:
    """Return per prompt length of a ``generation_sweep``: prefill time and speed, decode time and speed."""
    pre = sweep[sweep.phase == "prefill"].set_index("prompt_tokens")["ms"]
    dec = sweep[sweep.phase == "decode"].groupby("prompt_tokens")["ms"].median()
    df = pd.DataFrame({
        "prefill (ms)": pre.round(1),
        "prefill (tokens/s)": (pre.index / pre * 1e3).round(0),
        "one decode step (ms)": dec.round(1),
        "decode (tokens/s)": (1e3 / dec).round(1),
    })  # fmt: skip
    df["prefill speed / decode speed (x)"] = (df["prefill (tokens/s)"] / df["decode (tokens/s)"]).round(1)
    df.index.name = "prompt tokens"
    return df


def plot_prefill_decode(sweep: pd.DataFrame) -> go.Figure:
    """Return two panels of a ``generation_sweep``: prefill time against prompt length (beside the time the same
    tokens would take one decode step each), and the time of each decode step."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[
            "prefill: the whole prompt<br>in one pass (ms, log-log)",
            "decode: one pass per<br>new token (ms)",
        ],
    )
    table = prefill_table(sweep)
    x = table.index.to_numpy()
    fig.add_scatter(x=x, y=table["prefill (ms)"], name="prefill (measured)", mode="lines+markers", row=1, col=1,
                    line={"color": colour(0)})  # fmt: skip
    fig.add_scatter(x=x, y=x * table["one decode step (ms)"], name="the same tokens one decode step each",
                    mode="lines+markers", line={"color": colour(1), "dash": "dash"}, row=1, col=1)  # fmt: skip
    for i, (n, part) in enumerate(sweep[sweep.phase == "decode"].groupby("prompt_tokens")):
        fig.add_scatter(x=part.token, y=part.ms, name=f"decode after a {n}-token prompt", mode="lines+markers",
                        line={"color": colour(i + 2)}, row=1, col=2)  # fmt: skip
    fig.update_xaxes(type="log", tickvals=x, title_text="prompt length (tokens)", row=1, col=1)
    fig.update_yaxes(type="log", dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="generated token (1 came from the prefill)", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)
    disturbed = sweep["note"].iloc[0] if len(sweep) else ""
    title = "Prefill against decode, timed on this CPU" + (f" ({disturbed})" if disturbed else "")
    title_legend_panels(fig, title, 540, 190, 60, 55)
    return fig


def bandwidth_table(report: Report, arch: Architecture, prompt_tokens: int, model: str | None = None) -> pd.DataFrame:
    """Return, for prefill and decode of ``model`` in a ``measure_lm`` report: tokens/s, bytes of weights read per
    second (each pass reads every weight once) and arithmetic per second (2 x parameters FLOPs per token)."""
    model = model or report.models()[0]
    prefill_tps = report.value(model, "prefill_tokens_per_s")
    decode_tps = report.value(model, "decode_tokens_per_s")
    rows = {  # passes per second: a prefill reads the whole prompt in one pass, a decode step one token
        f"prefill ({prompt_tokens}-token prompt, one pass)": (prefill_tps, prefill_tps / prompt_tokens),
        "decode (one pass per token)": (decode_tps, decode_tps),
    }
    df = pd.DataFrame(
        {
            "tokens/s": [tps for tps, _ in rows.values()],
            "weights read (GB/s)": [passes * arch.weight_bytes / 1e9 for _, passes in rows.values()],
            "arithmetic (GFLOP/s)": [2 * arch.params * tps / 1e9 for tps, _ in rows.values()],
        },
        index=list(rows),
    )
    df["FLOPs per byte of weights read"] = df["arithmetic (GFLOP/s)"] / df["weights read (GB/s)"]
    disturbed = report.disturbed(["prefill_tokens_per_s", "decode_tokens_per_s"], [model])
    df["note"] = "disturbed: other programs were busy" if disturbed else ""
    df.index.name = "phase"
    return df.round(2).loc[:, (df != "").any(axis=0)]


# --- 4. Energy: which method made each number -------------------------------------------------------------------


def methods(report: Report, metrics: list[str], model: str | None = None) -> Styler:
    """Return each metric of ``model`` with its value, how it was obtained and any note (a disturbed machine)."""
    model = model or report.models()[0]
    rows = [r for m in metrics for r in report.rows if r["model"] == model and r["metric"] == m]
    df = pd.DataFrame({
        "value": [human(r["value"], r["unit"]) + (" (disturbed)" if is_disturbed(r) else "") for r in rows],
        "how it was obtained": [r["method"] for r in rows],
        "note": [r.get("note") or "" for r in rows],
    }, index=[readable(r["metric"]) for r in rows])  # fmt: skip
    df.index.name = "metric"
    return _full_text(df.loc[:, (df != "").any(axis=0)])


def energy_model(arch: Architecture) -> pd.DataFrame:
    """Return a first-principles energy of one decode step at batch 1: every fp32 weight read once from DRAM, and a
    multiply and an add per weight, with Horowitz's 45 nm figures (ISSCC 2014)."""
    read = arch.weight_bytes / 4 * DRAM_J_PER_WORD
    arithmetic = arch.params * (FP32_MULT_J + FP32_ADD_J)
    df = pd.DataFrame(
        {
            "energy per token": [human(read, "J"), human(arithmetic, "J")],
            "how it was obtained": [
                f"modelled: {arch.weight_bytes / 4:,.0f} 32-bit words x {DRAM_J_PER_WORD * 1e12:.0f} pJ per DRAM read",
                f"modelled: {arch.params:,} x ({FP32_MULT_J * 1e12:g} + {FP32_ADD_J * 1e12:g} pJ), one fp32 "
                "multiply-add per weight",
            ],
        },
        index=["reading every weight from memory", "the arithmetic (2 FLOPs per weight)"],
    )
    df.index.name = "one decode step"
    return _full_text(df)


# --- 5. Perplexity: the tokens behind the number ----------------------------------------------------------------


def plot_token_losses(losses: torch.Tensor, vocab: int | None = None) -> go.Figure:
    """Return a histogram of per-token losses (nats) with their mean: perplexity is exp(mean). With ``vocab``, the
    x-axis title gives the loss of a uniform guess, ln(vocab)."""
    losses = torch.as_tensor(losses).float().numpy()
    mean = float(losses.mean())
    fig = go.Figure(go.Histogram(x=losses, nbinsx=40, marker_color=colour(0), name="tokens"))
    fig.add_vline(x=mean, line_dash="dash", line_color=colour(1))
    uniform = f", {np.log(vocab):.1f} = a uniform guess" if vocab else ""
    fig.update_xaxes(title_text=f"loss of the true next token = −ln p (nats; 0 = certain{uniform})")
    fig.update_yaxes(title_text="tokens")
    fig.update_layout(
        title=f"{len(losses)} next tokens: mean loss {mean:.2f} nats (dashed), perplexity = exp(mean) = "
        f"{np.exp(mean):.1f}",
        height=380,
        margin={"t": 60, "b": 50, "l": 60, "r": 20},
        showlegend=False,
    )
    return fig


def _scored(n: int, window: int) -> list[int]:
    """Return the positions ``token_losses`` scores in ``n`` tokens read in windows: all but each window's first."""
    return [i for start in range(0, n - 1, window) for i in range(start + 1, min(start + window, n))]


def surprises(tokenizer, ids: torch.Tensor, losses: torch.Tensor, n: int = 5, window: int = 256) -> Styler:
    """Return the ``n`` most and ``n`` least surprising next tokens of ``ids`` with the text before them, the
    probability the model gave them and their loss (``losses`` from ``token_losses(model, ids, window)``)."""
    ids = torch.as_tensor(ids).reshape(-1).tolist()
    losses = torch.as_tensor(losses).float().reshape(-1)
    positions = _scored(len(ids), window)
    if len(positions) != len(losses):
        raise ValueError(f"{len(losses)} losses for {len(ids)} tokens: pass the window token_losses used")
    order = losses.argsort(descending=True).tolist()
    rows = []
    for which, picks in (("most surprising", order[:n]), ("least surprising", order[::-1][:n])):
        for k in picks:
            i = positions[k]
            rows.append({
                "which": which,
                "text before (last 6 tokens)": tokenizer.decode(ids[max(0, i - 6) : i]).replace("\n", "⏎"),
                "true next token": repr(tokenizer.decode([ids[i]])),
                "probability the model gave it": f"{float(torch.exp(-losses[k])):.3g}",
                "loss (nats)": round(float(losses[k]), 2),
            })  # fmt: skip
    return _full_text(pd.DataFrame(rows)).hide(axis="index")

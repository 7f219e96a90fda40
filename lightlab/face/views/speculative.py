"""The face of speculative decoding: what one pass of the target costs, the rounds of one generation, Leviathan's
formula against measured points, and ``DraftLengthExplorer`` (draft length k -> acceptance, tokens per pass,
speed-up, looked up in a sweep measured once)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import ipywidgets as w
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from lightlab import config
from lightlab.face.plots import colour
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement import measure
from lightlab.measurement.generation import check_ids, greedy, prefill
from lightlab.techniques.speculative import SpecConfig, SpecResult, speculative_greedy

K_AXIS = "draft length k (tokens guessed per round)"


def _rounds() -> int:
    """Alternating timing rounds: the usual number, one in quick mode (a round repeats whole generations)."""
    return int(config.pick(measure.ROUNDS, 1))


def expected_tokens(alpha: float, k: int) -> float:
    """Return the expected tokens one pass of the target yields: (1 - alpha^(k+1)) / (1 - alpha), k + 1 at alpha 1."""
    return float(k + 1) if alpha >= 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


def expected_speedup(alpha: float, k: int, cost: float) -> float:
    """Return Leviathan et al.'s expected speed-up: expected tokens / (k x the draft's relative cost + 1)."""
    return expected_tokens(alpha, k) / (k * cost + 1)


# --- 1. What one pass of the target costs -----------------------------------------------------------------------


def _one_pass(model: nn.Module, cache, x: torch.Tensor, held: int) -> torch.Tensor:
    """Run ``model`` over ``x`` after the ``held`` cached tokens, then drop what it added to the cache."""
    out = model(x, cache=cache, use_cache=True)
    cache.crop(held - cache.get_seq_length())  # a negative count: the tokens to drop
    return out.logits


@torch.inference_mode()
def pass_times(
    models: Mapping[str, nn.Module],
    ids: torch.Tensor,
    sizes: Iterable[int] = (1, 2, 3, 5, 9),
    batches: Iterable[int] = (1,),
    repeats: int | None = None,
) -> pd.DataFrame:
    """Return the time of one pass over n new tokens after the prompt ``ids`` (its KV cache kept), per model, batch
    and n, all timed in turns.

    Columns: model, batch, tokens, ms (median of the best round), relative (to the same model and batch's pass over
    the fewest tokens), note ("disturbed: ..." when other programs were busy). n = 1 is one decode step; n = k + 1
    is the pass that checks k guesses. At batch b, b copies of the prompt each get n new tokens.
    """
    sizes, batches = sorted(set(sizes)), sorted(set(batches))
    if not models or not sizes or sizes[0] < 1 or not batches or batches[0] < 1:
        raise ValueError(
            f"pass_times needs a model, token counts >= 1 and batch sizes >= 1, got {list(sizes)} and {list(batches)}"
        )
    runs, keys = {}, []
    for name, model in models.items():
        for b in batches:
            prompt = check_ids(model, ids, max(sizes)).repeat(b, 1)
            _, cache = prefill(model, prompt)
            for n in sizes:
                x = prompt[:, torch.arange(n) % prompt.shape[1]]  # real tokens; which ones does not change the cost
                key = f"{name}, batch {b}, {n} tokens"
                runs[key] = measure.Call(
                    lambda _x, m=model, c=cache, x=x, held=prompt.shape[1]: _one_pass(m, c, x, held)
                )
                keys.append((name, b, n, key))
    repeats = int(repeats if repeats is not None else config.pick(10, 3))
    timings = measure.interleaved(runs, torch.zeros(1, 1), rounds=_rounds(), repeats=repeats, warmup=1)
    rows = [
        {"model": name, "batch": b, "tokens": n, "ms": timings[key].p50, "note": timings[key].note or ""}
        for name, b, n, key in keys
    ]
    df = pd.DataFrame(rows)
    df["relative"] = df["ms"] / df.groupby(["model", "batch"])["ms"].transform("first")
    return df


def plot_pass_times(df: pd.DataFrame) -> go.Figure:
    """Return two panels of ``pass_times`` tables: the time of one pass, and that time relative to the shortest pass."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=["one pass (ms)", "relative to a pass over<br>the fewest tokens (x)"]
    )
    for i, ((model, batch), part) in enumerate(df.groupby(["model", "batch"], sort=False)):
        name = model if df["batch"].nunique() == 1 else f"{model}, batch {batch}"
        hover = [f"{n} tokens: {ms:.1f} ms {note}" for n, ms, note in zip(part.tokens, part.ms, part.note, strict=True)]
        style = {"mode": "lines+markers", "line": {"color": colour(i)}, "legendgroup": name, "hovertext": hover}
        fig.add_scatter(x=part.tokens, y=part.ms, name=name, row=1, col=1, **style)
        fig.add_scatter(x=part.tokens, y=part.relative, name=name, showlegend=False, row=1, col=2, **style)
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(title_text="tokens in the pass (1 = one decode step)", dtick=1)
    fig.update_layout(
        height=380,
        margin={"t": 100, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.22, "yanchor": "bottom"},
    )
    return fig


# --- 2. The rounds of one generation ----------------------------------------------------------------------------


def _show(tokens: list[int], tokenizer) -> str:
    """Return tokens as text, each in brackets so that spaces and line breaks stay visible."""
    if tokenizer is None:
        return " ".join(map(str, tokens))
    return "".join("[" + tokenizer.decode([t]).replace("\n", "\\n") + "]" for t in tokens)


def speculation_rounds(
    target: nn.Module,
    draft: nn.Module | None,
    ids: torch.Tensor,
    new_tokens: int,
    cfg: SpecConfig | None = None,
    tokenizer=None,
) -> tuple[SpecResult, pd.DataFrame]:
    """Return ``speculative_greedy``'s result and one row per checking pass of the target: the guesses, how many it
    accepted, the rejected ones, its own token and the tokens gained (read from the target's passes by a hook)."""
    if draft is target:
        raise ValueError("the rounds are read from the target's passes: give a draft that is another model, or None")
    passes = []

    def listen(_module, args, output) -> None:
        if not args:
            raise RuntimeError("the target was called without positional token ids: the rounds cannot be read")
        passes.append((args[0][0].tolist(), output.logits[0].argmax(-1).tolist()))

    handle = target.register_forward_hook(listen)
    try:
        result = speculative_greedy(target, draft, ids, new_tokens, cfg)
    finally:
        handle.remove()
    rows = []
    for i, (x, choice) in enumerate(passes[1:], start=1):  # passes[0] read the prompt
        guess, n = x[1:], 0
        while n < len(guess) and guess[n] == choice[n]:
            n += 1
        rows.append({
            "round": i,
            "guessed": len(guess),
            "accepted": n,
            "accepted guesses": _show(guess[:n], tokenizer),
            "rejected guesses": _show(guess[n:], tokenizer),
            "target's own token": _show([choice[n]], tokenizer),
            "tokens gained": n + 1,
        })  # fmt: skip
    return result, pd.DataFrame(rows).set_index("round")


def _trials(rounds: pd.DataFrame) -> tuple[int, int]:
    """Return (guesses accepted, guesses judged): a round judges its accepted guesses and, if any, one rejected."""
    accepted = int(rounds["accepted"].sum())
    return accepted, accepted + int((rounds["accepted"] < rounds["guessed"]).sum())


def per_token_acceptance(rounds: pd.DataFrame) -> float:
    """Return alpha, the chance that one guess is accepted: accepted / (accepted + rounds that ended on a rejection).

    The guesses after a rejected one are never judged on their own, so they do not count.
    """
    accepted, judged = _trials(rounds)
    return accepted / judged if judged else 0.0


# --- 3. Draft length: a sweep measured once, Leviathan's formula, the explorer -----------------------------------


def sweep_draft_tokens(
    target: nn.Module,
    draft: nn.Module | None,
    ids: torch.Tensor,
    new_tokens: int,
    ks: Iterable[int] = range(1, 9),
    ngram: int = 3,
) -> pd.DataFrame:
    """Return, per draft length k: acceptance rate (%), alpha, tokens per checking pass, whether the output is the
    target's greedy output, and the measured speed-up of the whole generation over plain greedy decoding.

    Every generation is timed in one interleaved comparison (the one timing rule), greedy included.
    """
    reference = greedy(target, ids, new_tokens)
    runs = {"greedy": measure.Call(lambda x: greedy(target, x, new_tokens))}
    rows = []
    for k in ks:
        cfg = SpecConfig(k, ngram)
        result, rounds = speculation_rounds(target, draft, ids, new_tokens, cfg)
        _, judged = _trials(rounds)
        rows.append({
            "k": k,
            "judged": judged,
            "acceptance_rate": 100 * result.acceptance_rate,
            "alpha": per_token_acceptance(rounds),
            "tokens_per_pass": float(rounds["tokens gained"].mean()),
            "identical": bool(torch.equal(result.tokens, reference)),
        })  # fmt: skip
        runs[f"k={k}"] = measure.Call(lambda x, c=cfg: speculative_greedy(target, draft, x, new_tokens, c))
    # Every generation above has just run once: they are warm.
    timings = measure.interleaved(runs, ids, rounds=_rounds(), repeats=1, warmup=0)
    base = timings["greedy"]
    df = pd.DataFrame(rows)
    df["ms"] = [timings[f"k={k}"].p50 for k in df["k"]]
    df["greedy_ms"] = base.p50
    df["speedup"] = base.p50 / df["ms"]
    df["disturbed"] = [bool(base.note or timings[f"k={k}"].note) for k in df["k"]]
    return df


def pooled_alpha(sweep: pd.DataFrame) -> float:
    """Return one alpha for a whole sweep: every guess judged at any k, accepted ones over all of them."""
    judged = sweep["judged"].sum()
    return float((sweep["alpha"] * sweep["judged"]).sum() / judged) if judged else 0.0


def plot_draft_length(sweep: pd.DataFrame, cost: float, k: int | None = None) -> go.Figure:
    """Return tokens per checking pass and speed-up against k: measured points of ``sweep_draft_tokens`` and
    Leviathan's formula with the sweep's alpha and the draft's relative ``cost``."""
    alpha = pooled_alpha(sweep)
    ks = np.arange(1, max(8, int(sweep["k"].max())) + 1)
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=["tokens per checking pass<br>of the target", "speed-up over greedy (x)"]
    )
    formula = f"formula (α = {alpha:.2f}, draft cost c = {cost:.2f})"
    curves = [[expected_tokens(alpha, int(j)) for j in ks], [expected_speedup(alpha, int(j), cost) for j in ks]]
    measured = [sweep["tokens_per_pass"], sweep["speedup"]]
    hover = [
        f"k = {r.k}: {r.acceptance_rate:.0f} % of guesses accepted, {r.ms:.0f} ms vs greedy {r.greedy_ms:.0f} ms"
        + (" (disturbed: other programs were busy)" if r.disturbed else "")
        for r in sweep.itertuples()
    ]
    for col in (1, 2):
        fig.add_scatter(
            x=ks, y=curves[col - 1], name=formula, mode="lines", line={"color": colour(0)}, legendgroup="formula",
            showlegend=col == 1, row=1, col=col,
        )  # fmt: skip
        fig.add_scatter(
            x=sweep["k"], y=measured[col - 1], name="measured", mode="markers", hovertext=hover,
            marker={"color": colour(1), "size": 10}, legendgroup="measured", showlegend=col == 1, row=1, col=col,
        )  # fmt: skip
    fig.add_hline(y=1, line_dash="dot", line_color="grey", row=1, col=2)
    if k is not None:
        fig.add_vline(x=k, line_dash="dash", line_color="grey", row="all", col="all")
    fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(title_text=K_AXIS, dtick=1)
    fig.update_layout(
        height=400,
        margin={"t": 110, "b": 40, "l": 50, "r": 20},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.2, "yanchor": "bottom"},
    )
    return fig


def plot_break_even(
    drafts: Mapping[str, tuple[pd.DataFrame, float]], k: int = 4, alphas: Iterable[float] = (0.2, 0.5, 0.8, 0.95, 1.0)
) -> go.Figure:
    """Return the formula's speed-up against the draft's relative cost c at draft length ``k``, one curve per alpha,
    with each measured draft (name -> (its ``sweep_draft_tokens`` table, its cost c)) as a labelled point."""
    points = []
    for name, (sweep, cost) in drafts.items():
        found = sweep[sweep["k"] == k]
        if found.empty:
            raise ValueError(f"the sweep of {name!r} has no k = {k}; it has k = {list(sweep['k'])}")
        points.append((name, cost, found.iloc[0]))
    costs = np.linspace(0, 1.2, 61)
    fig = go.Figure()
    for i, a in enumerate(alphas):
        fig.add_scatter(
            x=costs, y=[expected_speedup(a, k, c) for c in costs], name=f"formula, α = {a:g}", mode="lines",
            line={"color": colour(i), "dash": "dot"},
        )  # fmt: skip
    fig.add_scatter(
        x=[c for _, c, _ in points], y=[r["speedup"] for _, _, r in points], name="measured drafts",
        mode="markers+text", text=[n for n, _, _ in points], textposition="top right",
        marker={"color": "black", "size": 10, "symbol": "diamond"},
        hovertext=[
            f"{n}: α = {r['alpha']:.2f}, c = {c:.2f}, {r['speedup']:.2f}x"
            + (" (disturbed: other programs were busy)" if r["disturbed"] else "")
            for n, c, r in points
        ],
    )  # fmt: skip
    fig.add_hline(y=1, line_dash="dash", line_color="grey")
    fig.update_xaxes(title_text="draft cost c (one draft step / one target step)", range=[0, 1.2])
    fig.update_yaxes(title_text=f"speed-up over greedy at k = {k} (x)", rangemode="tozero")
    fig.update_layout(
        height=420,
        margin={"t": 60, "b": 50, "l": 60, "r": 20},
        title={"text": "When does a draft pay? Above the dashed line", "x": 0},
    )
    return fig


class DraftLengthExplorer(Explorer):
    """Move the draft length k: acceptance, tokens per pass and speed-up are looked up in a sweep measured once."""

    def __init__(self, sweep: pd.DataFrame, cost: float):
        if sweep.empty:
            raise ValueError("the sweep is empty: measure one with sweep_draft_tokens(target, draft, ids, new_tokens)")
        self.sweep, self.cost = sweep.set_index("k", drop=False), cost
        ks = list(self.sweep.index)
        start = 4 if 4 in ks else ks[len(ks) // 2]
        self.k = w.SelectionSlider(options=ks, value=start, description="draft length k", style=FULL_LABEL)
        self.result: dict | None = None
        self.layout(self.k)

    def run(self) -> dict:
        """Look up the current k, redraw the figure with it marked and return its row (a dict)."""
        k = self.k.value
        row = self.sweep.loc[k].to_dict()
        alpha = pooled_alpha(self.sweep)
        row["formula_tokens_per_pass"] = expected_tokens(alpha, k)
        row["formula_speedup"] = expected_speedup(alpha, k, self.cost)
        self.result = row
        self.redraw(plot_draft_length(self.sweep.reset_index(drop=True), self.cost, k))
        self.summary.value = (
            f"k = {k}: {row['acceptance_rate']:.0f} % of the guesses accepted, {row['tokens_per_pass']:.2f} tokens "
            f"per checking pass (formula {row['formula_tokens_per_pass']:.2f}), {row['speedup']:.2f}x the speed of "
            f"greedy decoding (formula {row['formula_speedup']:.2f}x)"
            + ("; other programs were busy while timing: the speed-up is disturbed" if row["disturbed"] else "")
        )
        return row

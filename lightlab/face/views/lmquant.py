"""The face of notebook 31 (the quantization ladder on SmolLM2): ``Ladder`` builds, measures and deletes one variant
after another, ``kernel_table`` says which grids have a fast kernel, ``plot_pareto`` draws the trade-off and
``GridExplorer`` looks up a precomputed grid of variants. (``lmlayers`` looks inside one layer.)
"""

from __future__ import annotations

import time
from dataclasses import replace
from itertools import product

import ipywidgets as w
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from lightlab import config
from lightlab.face import plots
from lightlab.face.views.lmlayers import legend_on_top
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement.generation import file_bytes, interleaved_generation, perplexity
from lightlab.measurement.report import Report, is_disturbed
from lightlab.measurement.units import human
from lightlab.techniques.grids import Grid, storage_bytes
from lightlab.techniques.lmquant import LINEARS, LMQuantConfig, W8A8Config, layers, quantize_lm, w8a8
from lightlab.techniques.qlinear import Int8Embedding, QuantLinear, W8A8Linear, kernel_for

Step = LMQuantConfig | W8A8Config
FAMILIES = ("fp32", "weight-only, RTN", "weight-only, GPTQ or AWQ", "W8A8")


def step_name(cfg: Step) -> str:
    """Return a variant's name: 'int4 g32 asym rtn', 'w8a8 per-tensor smooth α=0.5', ..."""
    table = " fp32 table" if cfg.embedding == "fp32" else ""
    if isinstance(cfg, LMQuantConfig):
        return cfg.label + table
    how = "naive" if cfg.alpha is None else f"smooth α={cfg.alpha:g}"
    return f"w8a8 per-{'token' if cfg.per_token else 'tensor'} {how}{table}"


def family(cfg: Step | None) -> str:
    """Return which family of the Pareto chart a step belongs to."""
    return FAMILIES[0 if cfg is None else 3 if isinstance(cfg, W8A8Config) else 1 if cfg.method == "rtn" else 2]


def kernel_of(model: nn.Module) -> str:
    """Return the kernel(s) the decoder Linears of ``model`` multiply with ('int4pack', 'int_mm', 'fp32', ...)."""
    found = [layer.get_submodule(n) for layer in layers(model) for n in LINEARS]
    return ", ".join(sorted({getattr(m, "kernel", "int_mm" if isinstance(m, W8A8Linear) else "fp32") for m in found}))


def bit_packed_bytes(model: nn.Module, cfg: Step) -> float:
    """Return the bytes of the decoder Linears and the token table with every code packed in exactly ``bits``."""
    grid = cfg.grid if isinstance(cfg, LMQuantConfig) else Grid(8, "channel", symmetric=True)
    total = sum(storage_bytes(layer.get_submodule(n).weight, grid) for layer in layers(model) for n in LINEARS)
    table = model.get_input_embeddings().weight
    if cfg.embedding == "fp32":
        return total + 4 * table.numel()
    return total + storage_bytes(table, Grid(8, "channel", symmetric=True))


KERNELS = {
    "int4pack": "torch's _weight_int4pack_mm_for_cpu: 4-bit codes in nibbles, bf16 scales and activations",
    "int8pack": "torch's _weight_int8pack_mm: int8 weights, one scale per row, bf16 activations",
    "dequantize": "no fast kernel: the whole fp32 weight is rebuilt from its codes at every call",
}


def method_of(report: Report, metric: str) -> str:
    """Return how ``metric`` was obtained: the method of its first row in ``report``."""
    return next(r["method"] for r in report.rows if r["metric"] == metric)


def kernel_table(grids: list[Grid], in_features: int = 576) -> pd.DataFrame:
    """Return which kernel a ``QuantLinear`` on each grid would use, and what that kernel does."""
    rows = {
        g.label: {"kernel": kernel_for(g, in_features), "what it does": KERNELS[kernel_for(g, in_features)]}
        for g in grids
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = f"grid (a layer with {in_features} inputs)"
    return out


def _int8_table(model: nn.Module) -> tuple[Int8Embedding, QuantLinear] | None:
    """Return a tied token table as lmquant stores it (int8 rows, a scale each), or None if the head is not tied."""
    table, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is None or head.weight is not table.weight:
        return None
    out = QuantLinear.from_weight(table.weight.detach(), Grid(8, "channel", symmetric=True))
    return Int8Embedding(out.qweight, out.scale), out


class Ladder:
    """Variants of one fp32 model measured side by side: each is built, measured against the fp32 model in
    alternating rounds (the one timing rule), then deleted, so only the fp32 model and one variant are alive."""

    def __init__(self, model: nn.Module, text: torch.Tensor, prompt: torch.Tensor, new_tokens=None, rounds=None):
        self.model, self.text, self.prompt = model, text, prompt
        self.new_tokens = int(new_tokens or config.pick(32, 6))
        self.rounds = int(rounds or config.pick(3, 1))
        self.report = Report()
        self.kernels: dict[str, str] = {}
        self.configs: dict[str, Step | None] = {}
        self._table = _int8_table(model)
        self._measure("fp32", model, None, 0.0)

    def build(self, cfg: Step, calibration: torch.Tensor | None = None) -> nn.Module:
        """Return the variant ``cfg`` describes (``quantize_lm`` or ``w8a8``), with the ladder's one int8 token table.

        The table is the same in every variant: quantizing it once saves time and, above all, the few hundred MB of
        temporaries that quantizing 28 M numbers again for each variant would add to the notebook's peak memory.
        """
        config.trim_heap()  # what earlier cells freed (50-150 MB per deleted variant) must not add to this peak
        shared = self._table is not None and cfg.embedding == "int8"
        own = replace(cfg, embedding="fp32") if shared else cfg
        build = w8a8 if isinstance(cfg, W8A8Config) else quantize_lm
        q = build(self.model, own, calibration)
        if shared:  # the same modules lmquant builds for a tied table: int8 rows, one scale each
            q.set_input_embeddings(self._table[0])
            q.set_output_embeddings(self._table[1])
        return q

    def _measure(self, name: str, q: nn.Module, cfg: Step | None, built_s: float) -> None:
        r, fp32 = self.report, q is self.model
        self.kernels[name], self.configs[name] = kernel_of(q), cfg
        r.add(name, "file_size", file_bytes(q), "bytes", "torch.save(state_dict) bytes written to a file")
        if cfg is not None:
            how = "bits x weights + 2-byte scale (and offset) per group; decoder Linears and token table"
            r.add(name, "bit_packed_size", bit_packed_bytes(self.model, cfg), "bytes", how)
        ppl = perplexity(q, self.text)
        r.add(name, "perplexity", ppl, "", f"exp(mean next-token loss) over {self.text.shape[-1]} held-out tokens")
        models = {"fp32": self.model} if fp32 else {"fp32": self.model, name: q}
        timings = interleaved_generation(models, self.prompt, self.new_tokens, self.rounds)
        dec, base = timings[name][1], timings["fp32"][1]
        turns = "" if fp32 else " (in turns with fp32)"
        r.add(name, "decode_tokens_per_s", 1e3 / dec.p50, "tokens/s", dec.method + turns, None, dec.note)
        if not fp32:
            how = "fp32's decode time per token / this variant's, from the same alternating rounds"
            r.add(name, "decode_speedup", base.p50 / dec.p50, "x", how, None, dec.note)
            how = "wall clock of quantize_lm or w8a8, one run (the int8 token table is quantized once per ladder)"
            r.add(name, "build_time", built_s, "s", how)

    def run(self, steps: list[Step], calibration: torch.Tensor | None = None) -> pd.DataFrame:
        """Build and measure each step not measured yet (deleting it after), then return their table with fp32."""
        names = []
        for cfg in steps:
            name = step_name(cfg)
            names.append(name)
            if name in self.configs:
                continue
            start = time.perf_counter()
            q = self.build(cfg, calibration)
            self._measure(name, q, cfg, time.perf_counter() - start)
            del q  # nothing else refers to it: its memory is freed here
        return self.table(["fp32", *dict.fromkeys(names)])

    def value(self, name: str, metric: str) -> float:
        """Return one measured number (``self.report.value``)."""
        return self.report.value(name, metric)

    def table(self, names: list[str] | None = None) -> pd.DataFrame:
        """Return one row per variant: sizes, perplexity, decode speed (and ratio to fp32), kernel, build time."""
        metrics = ("file_size", "bit_packed_size", "perplexity", "decode_tokens_per_s", "decode_speedup", "build_time")
        columns = dict(
            zip(metrics, ("file", "bit-packed", "perplexity", "decode", "decode vs fp32", "built in"), strict=True)
        )
        rows = {}
        for name in names or list(self.configs):
            cells = {}
            for metric, title in columns.items():
                row = next((r for r in self.report.rows if r["model"] == name and r["metric"] == metric), None)
                cells[title] = "" if row is None else human(row["value"], row["unit"])
                cells[title] += " (disturbed)" if row is not None and is_disturbed(row) else ""
            cells["kernel"] = self.kernels[name]
            rows[name] = cells
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "variant"
        return out


def _front(points: list[tuple[float, float, str]], larger_x_better: bool) -> list[tuple[float, float, str]]:
    """Return the points no other point beats on both x and perplexity (y, lower is better), in x order."""
    ordered = sorted(points, key=lambda p: (-p[0] if larger_x_better else p[0], p[1]))
    front, best = [], float("inf")
    for p in ordered:
        if p[1] < best:
            front.append(p)
            best = p[1]
    return sorted(front)


def _label_places(n: int, larger_x_better: bool) -> list[str]:
    # Alternate above and below along the front; on the speed panel, from the fastest point and to its left.
    if larger_x_better:
        return ["top left" if (n - 1 - i) % 2 == 0 else "bottom left" for i in range(n)]
    return ["top center" if i % 2 == 0 else "bottom center" for i in range(n)]


def plot_pareto(ladder: Ladder, names: list[str] | None = None, worst: float = 10.0) -> go.Figure:
    """Return perplexity against file size and against decode tokens/s, one point per variant, with each panel's
    Pareto front; variants above ``worst`` x fp32's perplexity are named under the chart, not drawn."""
    names = names or list(ladder.configs)
    limit = worst * ladder.value("fp32", "perplexity")
    off = [n for n in names if ladder.value(n, "perplexity") > limit]
    names = [n for n in names if n not in off]
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=["smaller file: to the left", "faster decoding: to the right"],
        horizontal_spacing=0.06,
    )
    panels = ((1, "file_size", 1e-6, False), (2, "decode_tokens_per_s", 1.0, True))
    for i, fam in enumerate(FAMILIES):
        members = [n for n in names if family(ladder.configs[n]) == fam]
        for col, metric, scale, _ in panels if members else ():
            fig.add_scatter(
                x=[ladder.value(n, metric) * scale for n in members],
                y=[ladder.value(n, "perplexity") for n in members],
                mode="markers",
                marker={"size": 11, "color": plots.colour(i), "symbol": "star" if fam == "fp32" else "circle"},
                name=fam,
                legendgroup=fam,
                showlegend=col == 1,
                hovertext=[f"{n}: kernel {ladder.kernels[n]}" for n in members],
                row=1,
                col=col,
            )
    for col, metric, scale, larger in panels:
        points = [(ladder.value(n, metric) * scale, ladder.value(n, "perplexity"), n) for n in names]
        front = _front(points, larger)
        fig.add_scatter(
            x=[p[0] for p in front],
            y=[p[1] for p in front],
            mode="lines+text",
            text=[p[2].replace(" asym", "").replace(" rtn", "") for p in front],
            textposition=_label_places(len(front), larger),
            textfont={"size": 10},
            cliponaxis=False,  # a label at the panel's edge stays whole
            line={"color": "grey", "dash": "dot", "width": 1},
            name="Pareto front",
            legendgroup="front",
            showlegend=col == 1,
            row=1,
            col=col,
        )
    fig.update_xaxes(title_text="file size (MB, log)", type="log", row=1, col=1)
    fig.update_xaxes(title_text="decode speed (tokens/s)", row=1, col=2)
    fig.update_yaxes(title_text="perplexity (log; lower is better)", type="log", row=1, col=1)
    if off:
        left_out = ", ".join(f"{n} ({ladder.value(n, 'perplexity'):,.0f})" for n in off)
        note = {"xref": "paper", "yref": "paper", "xanchor": "left", "yanchor": "top", "showarrow": False}
        fig.add_annotation(text=f"not drawn, perplexity over {worst:g}x fp32's: {left_out}", x=0, y=-0.25, **note)
    fig = legend_on_top(fig, height=480)
    fig.update_layout(margin={"b": 90})
    return fig


def grid_steps(bits, groups, symmetric) -> list[LMQuantConfig]:
    """Return the RTN configs of every (bits, group size, symmetric) combination."""
    return [LMQuantConfig(Grid(b, g, s)) for b, g, s in product(bits, groups, symmetric)]


class GridExplorer(Explorer):
    """Pick bits, group size and symmetric: look up the precomputed variant's perplexity and decode speed."""

    def __init__(self, ladder: Ladder, bits=(3, 4, 8), groups=(32, 64, "channel"), symmetric=(False,)):
        self.ladder = ladder
        self.steps = grid_steps(bits, groups, symmetric)
        ladder.run(self.steps)  # the only slow part: every later move is a look-up
        self.names = [step_name(cfg) for cfg in self.steps]
        self.bits = w.ToggleButtons(options=list(bits), value=4 if 4 in bits else bits[0], description="bits")
        labels = [(f"{g}" if isinstance(g, int) else f"per {g}", g) for g in groups]
        self.group = w.ToggleButtons(options=labels, value=groups[0], description="group size", style=FULL_LABEL)
        self.symmetric = w.Checkbox(
            value=symmetric[0],
            description="symmetric" + ("" if len(symmetric) > 1 else " (this run measured one setting)"),
            disabled=len(symmetric) == 1,
            style=FULL_LABEL,
        )
        self.result: dict | None = None
        self.layout(self.bits, self.group, self.symmetric)

    def run(self) -> dict:
        """Look up the chosen variant, redraw the chart with it highlighted and return its numbers."""
        name = step_name(LMQuantConfig(Grid(self.bits.value, self.group.value, self.symmetric.value)))
        lad, metrics = self.ladder, ("perplexity", "decode_tokens_per_s", "decode_speedup", "file_size")
        result = {"name": name, **{m: lad.value(name, m) for m in metrics}, "kernel": lad.kernels[name]}
        self.result = result
        self.redraw(self.figure(name))
        self.summary.value = (
            f"{name}: perplexity {result['perplexity']:.1f} (fp32 {lad.value('fp32', 'perplexity'):.1f}), "
            f"{result['decode_tokens_per_s']:.0f} decode tokens/s ({result['decode_speedup']:.1f}x fp32's in the "
            f"same turns), kernel {result['kernel']}, file {human(result['file_size'], 'bytes')}"
        )
        return result

    def figure(self, chosen: str) -> go.Figure:
        """Return every precomputed variant (perplexity against decode speed) with ``chosen`` highlighted."""
        lad, fig = self.ladder, go.Figure()
        groups = (("every variant of the grid", self.names, "#B0B0B0", 9), ("your choice", [chosen], "#EF553B", 16))
        for label, names, colour, size in (("fp32", ["fp32"], plots.colour(0), 14), *groups):
            fig.add_scatter(
                x=[lad.value(n, "decode_tokens_per_s") for n in names],
                y=[lad.value(n, "perplexity") for n in names],
                mode="markers",
                name=label,
                marker={"size": size, "color": colour, "symbol": "star" if label == "fp32" else "circle"},
                hovertext=[f"{n}: kernel {lad.kernels[n]}" for n in names],
            )
        fig.update_layout(
            title=f"{chosen} among the grid's variants",
            xaxis_title="decode speed (tokens/s)",
            yaxis_title="perplexity (log; lower is better)",
            yaxis_type="log",
        )
        return legend_on_top(fig, height=400)

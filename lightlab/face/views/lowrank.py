"""Pictures and knobs for low-rank factorization: the singular value spectrum, rank trade-offs, the rank explorer."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement import metrics, stats
from lightlab.measurement.report import Report
from lightlab.measurement.units import human
from lightlab.techniques.lowrank import breakeven_rank, matrix_shape, rank_sweep, singular_values, variants

_DASH = {"dash": "dash", "color": "grey"}
_LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0}  # clear of ticks, axis titles and panels


def _describe(model: nn.Module, name: str) -> str:
    layer = model.get_submodule(name)
    m, n = matrix_shape(layer)
    return f"layer {name!r} ({type(layer).__name__}, {m} × {n})"


def spectrum(model: nn.Module, layers: Sequence[str], untrained: nn.Module | None = None) -> go.Figure:
    """Return two panels per ``layers``: singular values (log scale) and the share of sum(s²) kept against rank.

    ``untrained``: the same architecture freshly initialised; its layers' singular values are drawn dotted, to show
    which part of the spectrum training wrote and which part is the random start left in place.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("singular values", "energy kept by rank r"))
    for i, name in enumerate(layers):
        s = singular_values(model.get_submodule(name).weight).numpy()
        ranks = np.arange(1, len(s) + 1)
        kept = 100 * np.cumsum(s**2) / np.sum(s**2)
        colour, label = plots.colour(i), _describe(model, name)
        fig.add_scatter(x=ranks, y=s, mode="lines", name=label, line={"color": colour}, row=1, col=1)
        if untrained is not None:
            start = singular_values(untrained.get_submodule(name).weight).numpy()
            fig.add_scatter(
                x=ranks,
                y=start,
                mode="lines",
                name=f"{label}, untrained (random init)",
                line={"color": colour, "dash": "dot"},
                row=1,
                col=1,
            )
        fig.add_scatter(
            x=ranks, y=kept, mode="lines", name=label, line={"color": colour}, showlegend=False, row=1, col=2
        )
        even = breakeven_rank(*matrix_shape(model.get_submodule(name)))
        fig.add_scatter(
            x=[even, even],
            y=[0, 100],
            mode="lines",
            line={**_DASH, "color": colour},
            name=f"break-even rank {even:.0f} of layer {name!r}",
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="index i (rank)", row=1, col=1)
    fig.update_xaxes(title_text="rank r", row=1, col=2)
    fig.update_yaxes(title_text="singular value σᵢ (weight units)", type="log", row=1, col=1)
    fig.update_yaxes(title_text="share of Σσ² kept (%)", range=[0, 101], row=1, col=2)
    fig.update_layout(
        title="Singular value spectrum: how much of W the first r directions hold",
        height=420,
        legend=_LEGEND_ABOVE,
        margin={"t": 140},
    )
    return fig


def _series(report: Report, metric: str, scale: float = 1.0) -> tuple[list[int], list[float]]:
    names = [m for m in report.models() if m != "original"]
    ranks = [int(report.value(m, "rank")) for m in names]
    order = np.argsort(ranks)
    return [ranks[i] for i in order], [scale * report.value(names[i], metric) for i in order]


PANELS = (
    ("accuracy", 1.0, "test accuracy (%)"),
    ("size", 1e-3, "file size (kB)"),
    ("latency_p50_b1", 1.0, "latency, batch 1 (ms)"),
    ("latency_p50_b64", 1.0, "latency, batch 64 (ms)"),
)


def tradeoff(report: Report, breakeven: float | None = None, chosen: int | None = None) -> go.Figure:
    """Return accuracy, file size and measured latency (batch 1 and 64) against rank, from a ``rank_sweep`` Report.

    The original is a dashed line; ``breakeven`` (a rank) is a dotted line; ``chosen`` is ringed.
    """
    panels = [p for p in PANELS if any(r["metric"] == p[0] for r in report.rows)]
    fig = make_subplots(rows=2, cols=2, subplot_titles=[p[2] for p in panels], vertical_spacing=0.16)
    ranks = _series(report, "accuracy")[0]
    for i, (metric, scale, _title) in enumerate(panels):
        row, col, first = i // 2 + 1, i % 2 + 1, i == 0
        x, y = _series(report, metric, scale)
        disturbed = bool(report.disturbed([metric]))
        fig.add_scatter(
            x=x,
            y=y,
            mode="lines+markers",
            name="factored" + (" (timing disturbed)" if disturbed else ""),
            line={"color": plots.colour(0)},
            showlegend=first,
            row=row,
            col=col,
        )
        base = scale * report.value("original", metric)
        fig.add_scatter(
            x=[min(ranks), max(ranks)],
            y=[base, base],
            mode="lines",
            line=_DASH,
            name="original",
            showlegend=first,
            row=row,
            col=col,
        )
        if breakeven is not None:
            fig.add_scatter(
                x=[breakeven, breakeven],
                y=[min(y + [base]), max(y + [base])],
                mode="lines",
                line={"dash": "dot", "color": plots.colour(1)},
                name=f"break-even rank {breakeven:.0f}",
                showlegend=first,
                row=row,
                col=col,
            )
        if chosen in x:
            fig.add_scatter(
                x=[chosen],
                y=[y[x.index(chosen)]],
                mode="markers",
                name=f"rank {chosen}",
                marker={"size": 16, "symbol": "circle-open", "color": plots.colour(3), "line": {"width": 3}},
                showlegend=first,
                row=row,
                col=col,
            )
        fig.update_xaxes(title_text="rank r", type="log", row=row, col=col)
    fig.update_layout(
        title="Rank against accuracy, file size and measured latency",
        height=640,
        legend=_LEGEND_ABOVE,
        margin={"t": 130},
    )
    return fig


def layer_speed(report: Report) -> go.Figure:
    """Return the measured speed-up of one layer (dense / factored latency) against rank, beside what MACs predict."""
    names = [m for m in report.models() if m != "dense"]
    ranks = [int(m.split()[-1]) for m in names]
    fig = go.Figure()
    fig.add_scatter(
        x=ranks,
        y=[report.value(m, "mac_ratio") for m in names],
        mode="lines+markers",
        name="predicted by MACs",
        line=_DASH,
    )
    batches = sorted({int(r["metric"].rsplit("_b", 1)[1]) for r in report.rows if r["metric"].startswith("latency")})
    for i, b in enumerate(batches):
        metric = f"latency_p50_b{b}"
        note = " (disturbed)" if report.disturbed([metric]) else ""
        fig.add_scatter(
            x=ranks,
            y=[report.ratio(metric, "dense", m) for m in names],
            mode="lines+markers",
            name=f"measured, batch {b}{note}",
            line={"color": plots.colour(i)},
        )
    fig.add_scatter(
        x=[min(ranks), max(ranks)],
        y=[1, 1],
        mode="lines",
        name="no speed-up (1×)",
        line={"dash": "dot", "color": "black"},
    )
    fig.update_layout(
        title="One layer, dense vs factored: the speed-up MACs promise and the one measured",
        xaxis={"title": "rank r", "type": "log"},
        yaxis={"title": "speed-up (× faster than dense)", "type": "log"},
        height=420,
    )
    return fig


class LowRankExplorer(Explorer):
    """Pick a rank: everything the slider shows (models, measurements, paired tests) is computed once, up front.

    ``report``: a ``rank_sweep`` of the same model and layers (without fine-tuning), to reuse instead of measuring.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task,
        layers: tuple[str, ...] = ("6",),
        ranks: Sequence[int] = (2, 4, 8, 16, 32, 64, 128, 256),
        report: Report | None = None,
    ):
        self.model, self.task, self.layers = model, task, layers
        self.report = rank_sweep(model, ranks, task=task, layers=layers) if report is None else report
        ranks = sorted(int(self.report.value(m, "rank")) for m in self.report.models() if m != "original")
        # The paired tests need each model's predictions: made now, so moving the slider only reads and draws.
        y, base = metrics.predictions(model, task.test)
        factored = variants(model, ranks, layers)
        self.verdicts = {
            r: stats.compare(
                y, metrics.predictions(factored[f"rank {r}"], task.test)[1], base, (f"rank {r}", "original")
            )
            for r in ranks
        }
        self.breakeven = min(breakeven_rank(*matrix_shape(model.get_submodule(n))) for n in layers)
        self.rank = w.SelectionSlider(
            options=ranks,
            value=ranks[len(ranks) // 2],
            description="rank r",
            continuous_update=False,
            style=FULL_LABEL,
            layout=w.Layout(width="420px"),
        )
        self.result: Report | None = None
        self.runs = 0
        self.layout(self.rank, summary="html")

    def run(self) -> Report:
        """Show the precomputed sweep with the chosen rank ringed; return the rows of the original and that rank."""
        r = self.rank.value
        result = Report(
            [dict(row) for row in self.report.rows if row["model"] in ("original", f"rank {r}")],
            self.report.environment,
        )
        self.result, self.runs = result, self.runs + 1
        self.redraw(tradeoff(self.report, self.breakeven, chosen=r))
        self.summary.value = self.describe(result)
        return result

    def describe(self, report: Report) -> str:
        """Return what the chosen rank keeps and costs, its paired test against the original and measured latency."""
        r = self.rank.value
        name = f"rank {r}"
        speed = []
        prefix = "latency_p50_b"
        timed = sorted({int(row["metric"][len(prefix) :]) for row in report.rows if row["metric"].startswith(prefix)})
        for b in timed:
            metric = f"latency_p50_b{b}"
            if report.disturbed([metric]):
                speed.append(f"batch {b}: not measurable now (other processes disturbed the timing)")
            else:
                before, after = (human(report.value(m, metric), "ms") for m in ("original", name))
                ratio = report.ratio(metric, "original", name)
                speed.append(f"batch {b}: {before} → {after}, {ratio:.2f}× the original's speed")
        side = "below" if r < self.breakeven else "at or above"
        return (
            f"<b>{name}</b> ({side} the break-even rank {self.breakeven:.0f}): "
            f"{report.value(name, 'energy_kept'):.1f} % of Σσ² kept, "
            f"weight error {report.value(name, 'weight_error'):.1f} %; "
            f"file {report.ratio('size', name, 'original'):.2f}× the original's, "
            f"{report.ratio('params', name, 'original'):.2f}× its parameters.<br>"
            f"Accuracy {report.value(name, 'accuracy'):.1f} % vs {report.value('original', 'accuracy'):.1f} %: "
            f"{self.verdicts[r].verdict}.<br>Measured latency, {'; '.join(speed)}."
        )

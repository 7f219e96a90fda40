"""Pictures and knobs for microcontroller memory (notebook 24): bytes alive per operator, the tensor arena as boxes,
the peaks of every execution order, the patch trade-off, the patches on the image, and the arena explorer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import torch

from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement import arena
from lightlab.measurement.budget import KB, Device, format_bytes
from lightlab.measurement.report import Report
from lightlab.techniques.patches import PatchedModel

_LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}


def _label(step) -> str:
    return f"{step.name} ({step.module})" if step.module else step.name


def _budget_line(fig: go.Figure, device: Device | None, axis: str = "y") -> None:
    if device is None:
        return
    kb = device.ram / KB
    if axis == "y":
        fig.add_hline(y=kb, line_dash="dash", line_color="grey")
        fig.add_annotation(
            x=1,
            xref="paper",
            y=kb,
            text=f"{device.name}: {kb:.0f} KB SRAM",
            showarrow=False,
            xanchor="right",
            yanchor="bottom",
        )
    else:
        fig.add_vline(x=kb, line_dash="dash", line_color="grey")
        fig.add_annotation(
            y=1, yref="paper", x=kb, text=f"{device.name}: {kb:.0f} KB", showarrow=False, xanchor="left", yanchor="top"
        )


def live(curves: Mapping[str, tuple[arena.Graph, int | None, bool]], device: Device | None = None) -> go.Figure:
    """Return KB alive at each operator step, one line per ``name: (graph, itemsize, inplace)``, with ``device``'s
    SRAM as a dashed line; each line's peak is ringed."""
    fig = go.Figure()
    for i, (name, (g, itemsize, inplace)) in enumerate(curves.items()):
        kb = np.array(arena.live_bytes(g, itemsize, inplace)) / KB
        labels = [_label(s) for s in g.steps]
        fig.add_scatter(
            x=list(range(len(kb))),
            y=kb,
            mode="lines+markers",
            name=name,
            text=labels,
            line={"color": plots.colour(i), "shape": "hv"},
            hovertemplate="%{text}<br>%{y:.1f} KB alive<extra>" + name + "</extra>",
        )
        top = int(kb.argmax())
        fig.add_scatter(
            x=[top],
            y=[kb[top]],
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            marker={"size": 14, "symbol": "circle-open", "color": plots.colour(i), "line": {"width": 2}},
        )
    _budget_line(fig, device)
    fig.update_layout(
        title="SRAM alive while each operator runs (KB); ringed: the peak",
        xaxis_title="operator step (execution order)",
        yaxis_title="activations alive (KB)",
        height=420,
        legend=_LEGEND_ABOVE,
        margin={"t": 100},
    )
    return fig


def boxes(plan: arena.Plan, title: str | None = None) -> go.Figure:
    """Return the arena as boxes: each buffer from its first to its last step (x) at its addresses (y, KB)."""
    fig = go.Figure()
    xs, ys, texts = [], [], []
    for i, b in enumerate(sorted(plan.buffers, key=lambda b: b.first)):
        lo, hi = plan.offsets[b.name] / KB, (plan.offsets[b.name] + b.size) / KB
        fig.add_shape(
            type="rect",
            x0=b.first - 0.45,
            x1=b.last + 0.45,
            y0=lo,
            y1=hi,
            fillcolor=plots.colour(i),
            opacity=0.6,
            line={"color": "black", "width": 0.5},
        )
        xs.append((b.first + b.last) / 2)
        ys.append((lo + hi) / 2)
        texts.append(
            f"{' = '.join(b.tensors)}<br>{format_bytes(b.size)} at {plan.offsets[b.name]:,} B<br>"
            f"alive steps {b.first}–{b.last}"
        )
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="markers",
        marker={"size": 4, "color": "black"},
        text=texts,
        hovertemplate="%{text}<extra></extra>",
        showlegend=False,
    )
    for y, what, anchor in ((plan.peak_bytes, "peak alive", "top"), (plan.arena_bytes, "arena", "bottom")):
        fig.add_hline(y=y / KB, line_dash="dash", line_color="grey")
        fig.add_annotation(
            x=1,
            xref="paper",
            y=y / KB,
            text=f"{what}: {format_bytes(y)}",
            showarrow=False,
            xanchor="right",
            yanchor=anchor,
        )
    fig.update_layout(
        title=title
        or f"Tensor arena ({plan.method} planner): {format_bytes(plan.arena_bytes)} for a peak of "
        f"{format_bytes(plan.peak_bytes)} alive at once; addresses in KB",
        xaxis_title="operator step (each box: one buffer, alive from its first to its last step)",
        yaxis_title="address in the arena (KB)",
        xaxis={"range": [-1, len(plan.steps)]},
        yaxis={"range": [0, 1.08 * plan.arena_bytes / KB]},
        height=460,
    )
    return fig


def order_peaks(g: arena.Graph, search: Sequence[tuple[tuple[str, ...], int]]) -> go.Figure:
    """Return a histogram of the peak (KB) over every execution order of ``g``, its own order and the best marked."""
    peaks = np.array([p for _, p in search]) / KB
    own = dict(search)[g.names] / KB
    fig = go.Figure(go.Histogram(x=peaks, nbinsx=30, marker_color=plots.colour(0), showlegend=False))
    for x, text, colour in (
        (own, f"as written: {own:.1f} KB", "black"),
        (peaks.min(), f"best: {peaks.min():.1f} KB", plots.colour(2)),
    ):
        fig.add_vline(x=x, line_dash="dash", line_color=colour)
        fig.add_annotation(x=x, y=1, yref="paper", text=text, showarrow=False, xanchor="left", yanchor="bottom")
    fig.update_layout(
        title=f"Peak SRAM of each of the {len(search):,} execution orders (KB)",
        xaxis_title="peak activations alive at once (KB)",
        yaxis_title="number of orders",
        height=400,
        margin={"t": 90},
    )
    return fig


def patch_tradeoff(report: Report, device: Device | None = None) -> go.Figure:
    """Return peak SRAM (KB) against multiply-adds (millions) for the whole model and each patch grid."""
    names = list(dict.fromkeys(r["model"] for r in report.rows))
    macs = [report.value(n, "macs") / 1e6 for n in names]
    kb = [report.value(n, "peak_sram") for n in names]  # the Report holds KB
    fig = go.Figure(
        go.Scatter(
            x=macs,
            y=kb,
            mode="lines+markers+text",
            text=names,
            textposition="top right",
            marker={"size": 10, "color": plots.colour(0)},
            showlegend=False,
        )
    )
    _budget_line(fig, device)
    fig.update_layout(
        title="Patch-based inference: peak SRAM against multiply-adds (KB, millions of MACs)",
        xaxis_title="multiply-adds per image (millions; the halo is computed more than once)",
        yaxis_title="peak SRAM (KB)",
        yaxis={"rangemode": "tozero"},
        xaxis={"range": [0.95 * min(macs), 1.08 * max(macs)]},
        height=420,
    )
    return fig


def patch_regions(image: torch.Tensor, patched: PatchedModel) -> go.Figure:
    """Return ``image`` (H x W, grey) with each patch's input region (its share plus the halo) drawn over it."""
    size = tuple(image.shape[-2:])
    fig = go.Figure(go.Heatmap(z=image.reshape(size).numpy(), colorscale="gray", showscale=False, hoverinfo="skip"))
    for i, (_, ((r0, r1), (c0, c1))) in enumerate(patched.regions(size)):
        fig.add_shape(
            type="rect",
            x0=c0 - 0.5,
            x1=c1 - 0.5,
            y0=r0 - 0.5,
            y1=r1 - 0.5,
            line={"color": plots.colour(i), "width": 2},
            fillcolor=plots.colour(i),
            opacity=0.15,
        )
    fig.update_layout(
        title=f"{patched.grid}×{patched.grid} patches: what each one reads (its share + the halo), in pixels",
        xaxis_title="column (pixels)",
        yaxis_title="row (pixels)",
        yaxis={"autorange": "reversed", "scaleanchor": "x"},
        height=480,
        width=560,
    )
    return fig


class ArenaExplorer(Explorer):
    """Pick a graph, a precision, in-place operators and a planner: the arena's boxes, its size and the peak."""

    def __init__(self, graphs: Mapping[str, arena.Graph], device: Device | None = None):
        self.graphs, self.device = dict(graphs), device
        self.graph = w.Dropdown(options=list(self.graphs), description="graph", style=FULL_LABEL)
        self.precision = w.ToggleButtons(options=[("fp32", 4), ("int8", 1)], value=4, description="precision")
        self.inplace = w.Checkbox(value=False, description="in-place operators", style=FULL_LABEL)
        self.method = w.Dropdown(options=list(arena.PLANNERS), value="greedy", description="planner")
        self.result: arena.Plan | None = None
        self.layout((self.graph, self.method), (self.precision, self.inplace))

    def run(self) -> arena.Plan:
        """Plan the chosen graph's arena, redraw its boxes and return the Plan."""
        g = self.graphs[self.graph.value]
        result = arena.plan(g, self.precision.value, self.inplace.value, self.method.value)
        self.result = result
        self.redraw(boxes(result))
        sentence = (
            f"arena {format_bytes(result.arena_bytes)} for a peak of {format_bytes(result.peak_bytes)} "
            f"({100 * result.overhead:.0f} % above it); the sum of every tensor is "
            f"{format_bytes(sum(g.sizes(self.precision.value).values()))}"
        )
        if self.device is not None:
            fits = "fits" if result.arena_bytes <= self.device.ram else "does NOT fit"
            sentence += f"; {fits} the {format_bytes(self.device.ram)} SRAM of {self.device.name}"
        self.summary.value = sentence  # last, so a changed sentence means the boxes are redrawn too
        return result

"""Pictures for int8 on real pretrained models: how often int8 answers as fp32 does, and what it saves."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lightlab.face.plots import colour
from lightlab.measurement.report import Report, is_disturbed

# Per model, the metric that says "the same answer as fp32": the same top-1 class, or the same nearest sentence.
AGREEMENT = ("top1_agreement", "neighbour_agreement")
PANELS = (
    ("same answer as fp32 (%)", AGREEMENT, 1.0),
    ("size on disk (MB)", ("size",), 1e-6),
    ("latency, batch 1 (ms)", ("latency_p50_b1",), 1.0),
)


def _bars(report: Report, metrics: tuple[str, ...], scale: float) -> tuple[list[str], list[float], list[str]]:
    """Return (models, values x scale, hover texts) for the models that have one of ``metrics``."""
    names, values, hovers = [], [], []
    for r in report.rows:
        if r["metric"] in metrics:
            disturbed = " (disturbed: other processes were busy)" if is_disturbed(r) else ""
            names.append(r["model"])
            values.append(r["value"] * scale)
            hovers.append(f"{r['metric'].replace('_', ' ')}: {r['method']}{disturbed}")
    return names, values, hovers


def plot_pretrained(report: Report) -> go.Figure:
    """Return three panels of a ``compare_pretrained`` Report: agreement with fp32, size on disk, batch-1 latency."""
    missing = [metrics[0] for _, metrics, _ in PANELS[1:] if not any(r["metric"] in metrics for r in report.rows)]
    if missing or not any(r["metric"] in AGREEMENT for r in report.rows):
        raise ValueError(
            "plot_pretrained draws a Report from ll.pretrained_int8.compare_pretrained (or compare_vision / "
            f"compare_text); this one has no {', '.join(missing) or 'agreement'} rows"
        )
    order = {name: i for i, name in enumerate(report.models())}  # a model keeps its colour in every panel
    fig = make_subplots(rows=1, cols=len(PANELS), subplot_titles=[title for title, _, _ in PANELS])
    for col, (_, metrics, scale) in enumerate(PANELS, start=1):
        names, values, hovers = _bars(report, metrics, scale)
        fig.add_bar(
            x=names,
            y=values,
            hovertext=hovers,
            marker_color=[colour(order[n]) for n in names],
            showlegend=False,
            row=1,
            col=col,
        )
    fig.update_yaxes(range=[0, 105], row=1, col=1)
    fig.update_xaxes(tickangle=30)
    fig.update_layout(height=460, margin={"t": 50, "b": 150, "l": 50, "r": 20})
    return fig

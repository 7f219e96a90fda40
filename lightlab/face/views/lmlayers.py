"""One decoder layer of a real language model up close (notebook 31): which grid its released weights sit on, and
where its activations are large — per input channel (what SmoothQuant moves onto the weights) and per token.
"""

from __future__ import annotations

from itertools import islice

import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from lightlab.face import plots
from lightlab.techniques.grids import Grid, fake_quantize
from lightlab.techniques.lmquant import layer_inputs, layers
from lightlab.techniques.qlinear import QuantLinear
from lightlab.techniques.scaling import smooth_scale


def _layer_inputs(model: nn.Module, ids: torch.Tensor, layer: int) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """Return decoder layer ``layer`` and the inputs its Linears saw on ``ids`` (running only the layers before)."""
    if not 0 <= layer < len(layers(model)):
        raise ValueError(f"layer must be from 0 to {len(layers(model)) - 1}, got {layer}")
    return next(islice(layer_inputs(model, ids), layer, None))


@torch.inference_mode()
def baseline_check(model: nn.Module, ids: torch.Tensor, layer: int = 5, linear: str = "mlp.up_proj") -> pd.DataFrame:
    """Return how far each grid (and each real kernel) moves one real layer's weights and outputs."""
    block, inputs = _layer_inputs(model, ids, layer)
    weight, x = block.get_submodule(linear).weight.detach(), inputs[linear]
    exact, scale = x @ weight.T, weight.abs().mean()
    rows = {}

    def add(what: str, approx: torch.Tensor, output: torch.Tensor | None = None) -> None:
        err = (approx - weight).abs()
        output = x @ approx.T if output is None else output
        rows[what] = {
            "largest weight change": f"{err.max():.2g}",
            "mean weight change / mean |w|": f"{err.mean() / scale:.2%}",
            "output error (relative)": f"{(output - exact).norm() / exact.norm():.2%}",
        }

    add("fp16 rounding of the weights", weight.half().float())
    add("bf16 rounding of weights and inputs", weight.bfloat16().float(), (x.bfloat16() @ weight.bfloat16().T).float())
    for grid in (Grid(4, 32), Grid(4, 64), Grid(4, "channel"), Grid(4, 32, symmetric=True)):
        add(f"{grid.label} (fake-quantized, fp32)", fake_quantize(weight, grid))
    for grid in (Grid(4, 32), Grid(8, "channel", symmetric=True)):
        q = QuantLinear.from_weight(weight, grid)
        add(f"{grid.label} in the {q.kernel} kernel", q.weight_float(), q(x))
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = f"layer {layer} {linear} {tuple(weight.shape)} becomes"
    return out


def legend_on_top(fig: go.Figure, height: int = 420) -> go.Figure:
    """Put the legend in one row above the plot: above the panel titles, or under the figure's own title."""
    titled = bool(fig.layout.title.text)
    fig.update_layout(
        height=height,
        margin={"t": 100 if titled else 120, "b": 50, "l": 60, "r": 20},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.03 if titled else 1.22, "yanchor": "bottom"},
    )
    return fig


@torch.inference_mode()
def plot_outliers(model: nn.Module, ids: torch.Tensor, layer: int = 12, alpha: float = 0.5) -> go.Figure:
    """Return the per-channel max |x| into a layer's q/k/v projections and the per-channel max |W| of their
    weights, before and after SmoothQuant's scales (x / s, W * s)."""
    block, inputs = _layer_inputs(model, ids, layer)
    names = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")
    x, weights = inputs[names[0]], [block.get_submodule(n).weight.detach() for n in names]
    s = smooth_scale(x, weights, alpha)
    w_all = torch.cat(weights)
    panels = [((x.abs().amax(0)), (x / s).abs().amax(0)), (w_all.abs().amax(0), (w_all * s).abs().amax(0))]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[f"activations into q/k/v, layer {layer}", "q/k/v weights, per input channel"],
    )
    channels = list(range(x.shape[1]))
    for col, (before, after) in enumerate(panels, start=1):
        for i, (label, values) in enumerate((("before smoothing", before), (f"after smoothing (α={alpha:g})", after))):
            fig.add_scatter(
                x=channels,
                y=values.tolist(),
                mode="markers",
                marker={"size": 4, "color": plots.colour(i)},
                name=label,
                legendgroup=label,
                showlegend=col == 1,
                row=1,
                col=col,
            )
    fig.update_yaxes(type="log", title_text="largest |value| in the channel", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(title_text="input channel")
    return legend_on_top(fig)


@torch.inference_mode()
def plot_token_outliers(model: nn.Module, ids: torch.Tensor, linear: str = "mlp.down_proj") -> go.Figure:
    """Return, layer by layer, the largest |x| into ``linear`` on the first token of each snippet and on the others."""
    first, others = [], []
    tokens = ids.shape[-1]
    for _layer, inputs in layer_inputs(model, ids):
        x = inputs[linear].abs().amax(-1).reshape(-1, tokens)  # [snippets, tokens]: each token's largest |x|
        first.append(float(x[:, 0].max()))
        others.append(float(x[:, 1:].max()))
    fig = go.Figure()
    for i, (label, values) in enumerate((("first token of each snippet", first), ("every other token", others))):
        fig.add_scatter(
            x=list(range(len(first))), y=values, mode="lines+markers", name=label, line={"color": plots.colour(i)}
        )
    fig.update_layout(
        title=f"Largest |activation| into {linear.split('.')[-1]}, per layer",
        xaxis_title="decoder layer",
        yaxis_title="largest |value| (log)",
        yaxis_type="log",
    )
    return legend_on_top(fig, height=380)

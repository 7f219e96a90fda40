"""views.lmlayers: which grid a layer's weights sit on, and the activation outliers per channel and per token, on a
tiny seeded Llama (the real SmolLM2 runs in notebook 31)."""

import copy

import pytest
import torch
from _figures import problems

from lightlab.face.views import lmlayers as views
from lightlab.techniques import lmquant
from lightlab.techniques.grids import Grid, fake_quantize

CALIBRATION = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(2))


def test_baseline_check_finds_the_grid_the_weights_sit_on(tiny_llama):
    released = copy.deepcopy(tiny_llama)
    for layer in lmquant.layers(released):
        lin = layer.mlp.up_proj
        lin.weight.data = fake_quantize(lin.weight.data, Grid(4, 32))  # as a Q4_1 file would hold them
    df = views.baseline_check(released, CALIBRATION, layer=1, linear="mlp.up_proj")
    assert df.loc["int4 g32 asym (fake-quantized, fp32)", "largest weight change"] == "0"
    assert df.loc["int4 g32 asym (fake-quantized, fp32)", "output error (relative)"] == "0.00%"
    assert df.loc["int4 g64 asym (fake-quantized, fp32)", "largest weight change"] != "0"
    assert (
        "int4 g32 asym in the int4pack kernel" in df.index and "int8 per-channel sym in the int8pack kernel" in df.index
    )
    with pytest.raises(ValueError, match="layer must be from 0 to 1"):
        views.baseline_check(released, CALIBRATION, layer=2)


def test_outlier_figures_show_channels_before_and_after_and_tokens_per_layer(tiny_llama):
    fig = views.plot_outliers(tiny_llama, CALIBRATION, layer=1, alpha=0.5)
    assert [t.name for t in fig.data] == ["before smoothing", "after smoothing (α=0.5)"] * 2
    assert len(fig.data[0].y) == 64 and fig.layout.yaxis.type == "log"
    # SmoothQuant narrows the activations' spread across channels
    spread = [max(t.y) / min(t.y) for t in fig.data[:2]]
    assert spread[1] < spread[0]
    tokens = views.plot_token_outliers(tiny_llama, CALIBRATION)
    assert [t.name for t in tokens.data] == ["first token of each snippet", "every other token"]
    assert list(tokens.data[0].x) == [0, 1]
    for f in (fig, tokens):
        assert problems(f.to_plotly_json()) == []

import torch

from lightlab.techniques.grids import Grid, fake_quantize
from lightlab.techniques.qlinear import Int8Embedding, QuantLinear, W8A8Linear, kernel_for

W = torch.randn(256, 192, generator=torch.Generator().manual_seed(0))
X = torch.randn(5, 192, generator=torch.Generator().manual_seed(1))


def _relative(y, ref):
    return float((y - ref).abs().max() / ref.abs().max())


def test_each_grid_picks_a_real_kernel_or_says_it_dequantizes():
    assert kernel_for(Grid(4, 32), 192) == "int4pack"
    assert kernel_for(Grid(2, "channel"), 192) == "int4pack"  # a coarser grid repeated into kernel groups
    assert kernel_for(Grid(8, "channel", symmetric=True), 192) == "int8pack"
    assert kernel_for(Grid(8, 32), 192) == "dequantize"
    assert "kernel=int4pack" in repr(QuantLinear.from_weight(W, Grid(3, 64)))


def test_kernels_compute_the_fake_quantized_product():
    # bf16 activations and scales cost well under 1 % of the output range
    for grid in (Grid(4, 32), Grid(4, 64, symmetric=True), Grid(3, 32), Grid(4, "tensor"), Grid(8, "channel", True)):
        layer = QuantLinear.from_weight(W, grid)
        assert _relative(layer(X), X @ fake_quantize(W, grid).T) < 0.01, grid.label
    fallback = QuantLinear.from_weight(W, Grid(6, 32))
    assert _relative(fallback(X), X @ fake_quantize(W, Grid(6, 32)).T) < 1e-3


def test_w8a8_is_close_per_token_and_hurt_by_an_outlier_per_tensor():
    x = X.clone()
    x[0, 3] = 500.0  # one outlier channel in one token
    ref = x @ W.T
    per_token, per_tensor = W8A8Linear(W, per_token=True), W8A8Linear(W, per_token=False)
    # the other tokens lose their resolution when one scale must cover the outlier
    assert _relative(per_token(x)[1:], ref[1:]) < 0.02 < _relative(per_tensor(x)[1:], ref[1:])
    assert per_token(torch.randn(40, 192)).shape == (40, 256)


def test_int8_embedding_looks_up_rows():
    table = Int8Embedding.from_weight(W)
    ids = torch.tensor([[0, 7, 255]])
    assert table(ids).shape == (1, 3, 192)
    assert _relative(table(ids)[0], W[[0, 7, 255]]) < 0.01

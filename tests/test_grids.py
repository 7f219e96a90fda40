import pytest
import torch

from lightlab.techniques.grids import Grid, dequantize, fake_quantize, quantize, storage_bytes


def test_codes_stay_in_range_and_rebuild_the_weight():
    w = torch.randn(64, 128, generator=torch.Generator().manual_seed(0))
    for grid in (Grid(4, 32), Grid(3, 64, symmetric=True), Grid(2, "channel"), Grid(8, "tensor")):
        codes, scale, offset = quantize(w, grid)
        assert codes.dtype == torch.uint8 and int(codes.max()) <= 2**grid.bits - 1
        rebuilt = dequantize(codes, scale, offset, w.shape)
        # round-to-nearest: no weight moves by more than half a step of its group
        step = scale.reshape(scale.shape[0], -1).repeat_interleave(128 // scale.reshape(scale.shape[0], -1).shape[1], 1)
        if grid.group_size != "tensor":
            assert ((rebuilt - w).abs() <= step / 2 + 1e-6).all()


def test_more_bits_and_smaller_groups_lose_less():
    w = torch.randn(128, 256, generator=torch.Generator().manual_seed(1))
    err = {g.label: float((fake_quantize(w, g) - w).pow(2).mean()) for g in
           (Grid(8, 32), Grid(4, 32), Grid(4, 128), Grid(4, "channel"), Grid(4, "tensor"), Grid(2, 32))}  # fmt: skip
    assert err["int8 g32 asym"] < err["int4 g32 asym"] < err["int4 g128 asym"] < err["int4 per-channel asym"]
    assert err["int4 per-channel asym"] < err["int4 per-tensor asym"] and err["int4 g32 asym"] < err["int2 g32 asym"]


def test_symmetric_grid_keeps_zero_exact():
    w = torch.randn(16, 32)
    w[:, 0] = 0
    assert (fake_quantize(w, Grid(4, 32, symmetric=True))[:, 0] == 0).all()


def test_storage_counts_bits_and_scales():
    w = torch.zeros(1024, 1024)
    assert storage_bytes(w, Grid(4, 32)) == 1024 * 1024 / 2 + 1024 * 32 * 4
    assert storage_bytes(w, Grid(8, "channel", symmetric=True)) == 1024 * 1024 + 1024 * 2


def test_bad_grids_and_weights_are_explained():
    with pytest.raises(ValueError, match="bits must be an integer from 2 to 8"):
        Grid(1)
    with pytest.raises(ValueError, match="group_size must be a positive integer"):
        Grid(4, 0)
    with pytest.raises(ValueError, match="group_size 128 does not divide the layer's 576 input columns.*32, 64"):
        quantize(torch.randn(8, 576), Grid(4, 128))
    for bad in (float("nan"), float("inf"), -float("inf")):  # one bad weight among good ones, on either grid
        weight = torch.randn(4, 64)
        weight[2, 40] = bad
        for symmetric in (False, True):
            with pytest.raises(ValueError, match="NaN or inf"):
                quantize(weight, Grid(4, 32, symmetric))

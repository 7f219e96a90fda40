import pytest
import torch

from lightlab.techniques.grids import Grid, fake_quantize
from lightlab.techniques.scaling import awq_scale, smooth_scale

G = torch.Generator().manual_seed(0)
W = torch.randn(128, 64, generator=G)
X = torch.randn(256, 64, generator=G) * torch.linspace(0.1, 8, 64)  # a few loud input channels


def test_awq_scale_lowers_the_rounded_output_error():
    grid = Grid(3, 32)
    s = awq_scale(X, [W], grid)
    plain = (X @ fake_quantize(W, grid).T - X @ W.T).pow(2).mean()
    scaled = (X @ (fake_quantize(W * s, grid) / s).T - X @ W.T).pow(2).mean()
    assert scaled < plain
    assert s[-1] > s[0]  # loud channels get their weights scaled up


def test_smooth_scale_flattens_activation_outliers_exactly():
    s = smooth_scale(X, [W], alpha=0.5)
    smoothed = X / s
    assert smoothed.abs().amax(0).std() < X.abs().amax(0).std()
    assert torch.allclose(smoothed @ (W * s).T, X @ W.T, rtol=1e-4, atol=1e-3)  # nothing changes in fp32


def test_bad_alpha_and_empty_calibration_are_refused():
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        smooth_scale(X, [W], alpha=1.5)
    with pytest.raises(ValueError, match="calibration set is empty"):
        awq_scale(torch.empty(0, 64), [W], Grid(4, 32))

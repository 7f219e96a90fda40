import pytest
import torch

from lightlab.techniques.gptq import gptq, gptq_shared, hessian
from lightlab.techniques.grids import Grid, dequantize, fake_quantize, quantize


def _output_error(x, w, wq):
    return float((x @ wq.T - x @ w.T).pow(2).mean())


def test_gptq_keeps_the_layer_output_better_than_rounding(smollm2, smol_calibration):
    # Real inputs: what a SmolLM2 MLP's down projection sees on the shipped text.
    from lightlab.techniques.lmquant import layer_inputs

    layer, inputs = next(layer_inputs(smollm2, smol_calibration))
    w, x = layer.mlp.down_proj.weight.detach(), inputs["mlp.down_proj"]
    grid = Grid(3, 32)
    codes, scale, offset = gptq(w, x, grid)
    assert codes.dtype == torch.uint8 and int(codes.max()) <= 7
    assert _output_error(x, w, dequantize(codes, scale, offset, w.shape)) < 0.7 * _output_error(
        x, w, fake_quantize(w, grid)
    )


def test_hessian_is_twice_the_input_covariance():
    x = torch.randn(100, 8)
    assert torch.allclose(hessian(x).float(), 2 * x.T @ x / 100, atol=1e-5)


def test_empty_calibration_and_bad_damping_are_refused():
    with pytest.raises(ValueError, match="calibration set is empty"):
        gptq(torch.randn(4, 32), torch.empty(0, 32), Grid(4, 32))
    with pytest.raises(ValueError, match="damp must be between 0 and 1"):
        gptq(torch.randn(4, 32), torch.randn(8, 32), Grid(4, 32), damp=2)


def _textbook_gptq(w: torch.Tensor, x: torch.Tensor, grid: Grid, damp: float = 0.01) -> torch.Tensor:
    """Frantar et al.'s Algorithm 1 without lazy blocks, in float64: each column is rounded onto the fixed grid, and
    its error, divided by [H⁻¹]jj, moves every later column by the row j of H⁻¹'s upper Cholesky factor."""
    _, scale, offset = quantize(w, grid)
    col_scale = (grid.groups(torch.ones_like(w)) * scale[..., None]).reshape(w.shape).double()
    col_offset = (grid.groups(torch.ones_like(w)) * offset[..., None]).reshape(w.shape).double()
    h = hessian(x)
    h += damp * h.diagonal().mean() * torch.eye(h.shape[0], dtype=h.dtype)
    u = torch.linalg.cholesky(torch.linalg.inv(h), upper=True)
    w, codes = w.double().clone(), torch.zeros_like(w, dtype=torch.uint8)
    for j in range(w.shape[1]):
        q = torch.clamp(torch.round((w[:, j] - col_offset[:, j]) / col_scale[:, j]), 0, 2**grid.bits - 1)
        codes[:, j] = q.to(torch.uint8)
        err = (w[:, j] - (q * col_scale[:, j] + col_offset[:, j])) / u[j, j]
        w[:, j:] -= err[:, None] * u[j, j:][None, :]
    return codes


def test_blocked_gptq_matches_the_textbook_algorithm():
    torch.manual_seed(0)
    x = torch.randn(256, 96) * torch.rand(96) * 3  # inputs with channels of very different sizes
    w = torch.randn(40, 96)
    grid = Grid(3, 32)
    codes = gptq(w, x, grid, block=32)[0].reshape(w.shape)  # three blocks: the lazy updates between them are tested
    reference = _textbook_gptq(w, x, grid)
    assert (codes != reference).float().mean() < 0.005  # float32 against float64: a rare tie may round the other way


def test_linears_that_share_inputs_get_the_codes_each_would_get_alone():
    torch.manual_seed(1)
    x = torch.randn(128, 64)
    weights = [torch.randn(48, 64), torch.randn(16, 64), torch.randn(16, 64)]  # q, k, v of a GQA layer
    for grid in (Grid(4, 32), Grid(3, "channel", symmetric=True)):
        together = gptq_shared(weights, x, grid)
        for w, (codes, scale, offset) in zip(weights, together, strict=True):
            alone = gptq(w, x, grid)
            assert (codes != alone[0]).float().mean() < 0.005
            assert torch.equal(scale, alone[1]) and torch.equal(offset, alone[2])

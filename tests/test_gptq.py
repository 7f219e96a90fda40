import pytest
import torch

from lightlab.techniques.gptq import gptq, hessian
from lightlab.techniques.grids import Grid, dequantize, fake_quantize


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

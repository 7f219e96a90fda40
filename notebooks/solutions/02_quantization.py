"""Solutions to the exercises of notebook 02 (kept apart from the notebook; tested in tests/test_solutions_02.py)."""

import torch

import lightlab as ll


def quantize_symmetric(w: torch.Tensor, bits: int, scale: float | None = None) -> tuple[torch.Tensor, float]:
    """Exercise 2: ``(q, scale)``, ``w`` on a symmetric ``bits``-bit grid, ``w ~= q * scale``."""
    qmax = 2 ** (bits - 1) - 1  # one bit holds the sign; -qmax..qmax keeps zero in the middle
    if scale is None:
        scale = w.abs().max().item() / qmax
    q = torch.clamp(torch.round(w / scale), -qmax, qmax)
    return q, scale


def four_bit_model(task: ll.Task) -> torch.nn.Module:
    """Exercise 4: digits-small with 4-bit weights within 1 point of FP32, by quantization-aware training."""
    return ll.quantize.qat(ll.zoo.pretrained("digits-small"), ll.quantize.QatConfig(bits=4), task=task)


def requantize(acc: torch.Tensor, multiplier: float, zero_point: int) -> torch.Tensor:
    """Exercise 6: int32 accumulators as uint8 codes on the output grid, as ONNX Runtime computes them."""
    codes = torch.round(acc.to(torch.float32) * multiplier) + zero_point  # torch.round: ties to even
    return torch.clamp(codes, 0, 255).to(torch.uint8)  # saturate first: a cast to uint8 would wrap around


def affine_grid(lo: float, hi: float) -> tuple[float, int]:
    """Exercise 7: the uint8 grid (scale, zero_point) covering [lo, hi], widened so that 0.0 is a code."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255
    return scale, min(max(round(-lo / scale), 0), 255)

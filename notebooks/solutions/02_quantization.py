"""Solutions to the exercises of notebook 02 (kept apart from the notebook; tested in tests/test_solutions_02.py)."""

import torch

import lightlab as ll


def quantize_symmetric(w: torch.Tensor, bits: int, scale: float | None = None) -> tuple[torch.Tensor, float]:
    """Return ``(q, scale)``: ``w`` on a symmetric ``bits``-bit grid, ``w ~= q * scale``."""
    qmax = 2 ** (bits - 1) - 1  # one bit holds the sign; -qmax..qmax keeps zero in the middle
    if scale is None:
        scale = w.abs().max().item() / qmax
    q = torch.clamp(torch.round(w / scale), -qmax, qmax)
    return q, scale


def four_bit_model(task: ll.Task) -> torch.nn.Module:
    """Exercise 4: digits-small with 4-bit weights within 1 point of FP32, by quantization-aware training."""
    return ll.quantize.qat(ll.zoo.pretrained("digits-small"), ll.quantize.QatConfig(bits=4), task=task)

"""Quantization grids for weight matrices: round-to-nearest (RTN) onto ``2**bits`` levels, one scale (and offset)
per group of ``group_size`` input columns, per output channel, or per tensor.

``quantize(w, grid)`` returns integer codes with their scales and offsets, ``dequantize`` turns them back into
floats, ``fake_quantize`` does both (the weight the model really computes with). These are the primitives the LLM
ladder (``lmquant``), GPTQ and AWQ build on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GRANULARITIES = ("channel", "tensor")


@dataclass(frozen=True)
class Grid:
    """``bits`` per weight; a scale per ``group_size`` columns ('channel': per row, 'tensor': one); zero or not."""

    bits: int = 4
    group_size: int | str = 32
    symmetric: bool = False

    def __post_init__(self):
        if not isinstance(self.bits, int) or not 2 <= self.bits <= 8:
            raise ValueError(f"bits must be an integer from 2 to 8, got {self.bits!r}")
        g = self.group_size
        if not (g in GRANULARITIES or (isinstance(g, int) and not isinstance(g, bool) and g >= 1)):
            raise ValueError(f"group_size must be a positive integer, 'channel' or 'tensor', got {g!r}")

    @property
    def label(self) -> str:
        """Return a short name such as 'int4 g32 asym'."""
        g = f"g{self.group_size}" if isinstance(self.group_size, int) else f"per-{self.group_size}"
        return f"int{self.bits} {g} {'sym' if self.symmetric else 'asym'}"

    def groups(self, weight: torch.Tensor) -> torch.Tensor:
        """Return ``weight`` [out, in] reshaped to [out, groups, group size] (raise if the group does not divide)."""
        if weight.dim() != 2:
            raise ValueError(f"expected a 2-D weight [out, in], got shape {tuple(weight.shape)}")
        rows, cols = weight.shape
        if self.group_size == "tensor":
            return weight.reshape(1, 1, rows * cols)
        size = cols if self.group_size == "channel" else self.group_size
        if cols % size:
            divisors = [d for d in (32, 64, 128, 256) if cols % d == 0]
            raise ValueError(
                f"group_size {size} does not divide the layer's {cols} input columns; use one that does "
                f"(e.g. {divisors or ['channel']})"
            )
        return weight.reshape(rows, cols // size, size)


def quantize(weight: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (codes in [0, 2**bits), scale, offset) per group: ``weight ≈ codes * scale + offset``."""
    codes, scale, offset = _rounded(weight, grid)
    return codes.to(torch.uint8), scale, offset


def _rounded(weight: torch.Tensor, grid: Grid) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # The codes as whole floats [rows, groups, group size], with each group's scale and offset.
    w = grid.groups(weight.float())
    top = 2**grid.bits - 1
    if grid.symmetric:  # levels -2**(b-1) .. 2**(b-1)-1 times the scale: zero sits exactly on the grid
        scale = (w.abs().amax(-1) / (2 ** (grid.bits - 1) - 1)).clamp(min=1e-12)
        offset = -(2 ** (grid.bits - 1)) * scale
    else:  # the group's minimum and maximum are the ends of the grid (as in llama.cpp's Q4_1)
        low = w.amin(-1)
        scale = ((w.amax(-1) - low) / top).clamp(min=1e-12)
        offset = low
    # A NaN or inf weight makes its group's range NaN or inf: checking the ranges is 32x cheaper than every weight.
    if not (torch.isfinite(scale).all() and torch.isfinite(offset).all()):
        raise ValueError("the weight holds NaN or inf: quantizing it would hide the problem; fix the model first")
    return (w - offset[..., None]).div_(scale[..., None]).round_().clamp_(0, top), scale, offset


def dequantize(codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Return the float weight of ``shape`` that the codes, scales and offsets stand for."""
    return (codes.float() * scale[..., None] + offset[..., None]).reshape(shape)


def fake_quantize(weight: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Return ``weight`` rounded onto ``grid`` and turned back into floats (same shape)."""
    codes, scale, offset = _rounded(weight, grid)  # dequantize(*quantize(...)) without the uint8 round trip
    return codes.mul_(scale[..., None]).add_(offset[..., None]).reshape(weight.shape)


def storage_bytes(weight: torch.Tensor, grid: Grid, scale_bytes: int = 2) -> float:
    """Return the bytes ``weight`` needs on ``grid``: ``bits`` per weight plus a scale (and offset) per group."""
    groups = grid.groups(weight).shape[:2].numel()
    per_group = scale_bytes * (1 if grid.symmetric else 2)
    return weight.numel() * grid.bits / 8 + groups * per_group

"""GPTQ (Frantar et al. 2022): quantize a weight matrix column by column, and after each column spread its rounding
error over the columns not yet quantized, weighted by the inverse Hessian of the layer's inputs.

Plain round-to-nearest treats every column alike; GPTQ uses what the inputs look like (``H = 2 XᵀX / n``) to push each
error where the inputs will cancel it. The grid (scales and offsets) is fixed up front from the original weights
("static groups"), so the result is stored exactly like an RTN weight.
"""

from __future__ import annotations

import torch

from lightlab.techniques.grids import Grid, quantize


def hessian(inputs: torch.Tensor) -> torch.Tensor:
    """Return ``2 XᵀX / n`` of the layer inputs ``X`` [tokens, features]: the curvature of the output error."""
    x = inputs.reshape(-1, inputs.shape[-1]).double()
    return (2 / x.shape[0]) * x.T @ x


def _per_column(values: torch.Tensor, weight: torch.Tensor, grid: Grid) -> torch.Tensor:
    # A per-group value [rows or 1, groups] spread onto every weight of its group: the shape of ``weight``.
    return (grid.groups(torch.ones_like(weight)) * values[..., None]).reshape(weight.shape)


@torch.no_grad()
def gptq(
    weight: torch.Tensor, inputs: torch.Tensor, grid: Grid, damp: float = 0.01, block: int = 128
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (codes, scale, offset) on ``grid`` for ``weight`` [out, in], chosen to keep ``inputs @ weight.T``."""
    if inputs.numel() == 0:
        raise ValueError("GPTQ needs calibration inputs: the calibration set is empty")
    if not 0 < damp < 1:
        raise ValueError(f"damp must be between 0 and 1 (a fraction of the mean diagonal), got {damp}")
    rows, cols = weight.shape
    _, scale, offset = quantize(weight, grid)
    # Work on columns as rows (contiguous), in float32; only the Hessian's inverse needs float64.
    col_scale, col_offset = (_per_column(v, weight, grid).T.contiguous() for v in (scale, offset))
    top = 2**grid.bits - 1
    w = weight.float().T.contiguous()
    h = hessian(inputs)
    dead = h.diagonal() == 0  # inputs that are always zero: their weights do not matter
    h[dead, dead] = 1
    w[dead] = 0
    h += damp * h.diagonal().mean() * torch.eye(cols, dtype=h.dtype)
    # The upper Cholesky factor of H⁻¹ gives, row by row, how one column's error should move the later ones.
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True).float()
    codes = torch.zeros(cols, rows, dtype=torch.uint8)
    for start in range(0, cols, block):
        end = min(start + block, cols)
        errors = torch.zeros(end - start, rows)
        for j in range(start, end):
            q = torch.clamp(torch.round((w[j] - col_offset[j]) / col_scale[j]), 0, top)
            codes[j] = q.to(torch.uint8)
            err = (w[j] - (q * col_scale[j] + col_offset[j])) / hinv[j, j]
            w[j:end] -= hinv[j, j:end, None] * err[None, :]
            errors[j - start] = err
        w[end:] -= hinv[start:end, end:].T @ errors
    return grid.groups(codes.T.contiguous()), scale, offset

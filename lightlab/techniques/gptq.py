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
    x = inputs.reshape(-1, inputs.shape[-1]).float()
    return (2 / x.shape[0]) * x.T @ x


def _per_column(values: torch.Tensor, weight: torch.Tensor, grid: Grid) -> torch.Tensor:
    # A per-group value [rows or 1, groups] spread onto every weight of its group: the shape of ``weight``.
    return (grid.groups(torch.ones_like(weight)) * values[..., None]).reshape(weight.shape)


def _inverse_factor(inputs: torch.Tensor, damp: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the upper Cholesky factor of the damped H⁻¹ (float32) and which inputs are always zero."""
    h = hessian(inputs)  # float32 like the reference implementation: sums of a few thousand products
    dead = h.diagonal() == 0  # inputs that are always zero: their weights do not matter
    h[dead, dead] = 1
    h.diagonal().add_(damp * h.diagonal().mean())
    # Row j of the upper Cholesky factor of H⁻¹ says how column j's error should move the later columns. Float32,
    # as in the reference implementation: the damping keeps it well conditioned, and it is twice as fast.
    return torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True), dead


@torch.no_grad()
def gptq_shared(
    weights: list[torch.Tensor], inputs: torch.Tensor, grid: Grid, damp: float = 0.01, block: int = 128
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Return (codes, scale, offset) on ``grid`` for each of ``weights`` [out, in]: Linears that read the same
    ``inputs`` (q, k and v; gate and up). GPTQ never mixes rows, so they share one Hessian and one pass over their
    stacked rows, and each gets exactly the codes ``gptq`` alone would give it (up to float rounding)."""
    if inputs.numel() == 0:
        raise ValueError("GPTQ needs calibration inputs: the calibration set is empty")
    if not 0 < damp < 1:
        raise ValueError(f"damp must be between 0 and 1 (a fraction of the mean diagonal), got {damp}")
    cols = weights[0].shape[1]
    grids = [quantize(w, grid)[1:] for w in weights]  # the grid is fixed up front: "static groups"
    # Work on columns as rows (contiguous), all weights side by side.
    col_scale, col_offset = (
        torch.cat([_per_column(g[i], w, grid) for g, w in zip(grids, weights, strict=True)]).T.contiguous()
        for i in (0, 1)
    )
    w = torch.cat(weights).float().T.contiguous()
    hinv, dead = _inverse_factor(inputs, damp)
    w[dead] = 0
    top = 2**grid.bits - 1
    codes, errors, diagonal = torch.empty_like(w), torch.empty_like(w), hinv.diagonal().tolist()
    for start in range(0, cols, block):
        end = min(start + block, cols)
        for j in range(start, end):
            column, scale, offset = w[j], col_scale[j], col_offset[j]
            q = torch.div(column - offset, scale, out=codes[j]).round_().clamp_(0, top)
            err = torch.sub(column, torch.addcmul(offset, q, scale), out=errors[j]).div_(diagonal[j])
            w[j + 1 : end].addr_(hinv[j, j + 1 : end], err, alpha=-1)  # the rest of the block: at once
        w[end:].addmm_(hinv[start:end, end:].T, errors[start:end], alpha=-1)  # later blocks: in one product
    out, first = [], 0
    for weight, (scale, offset) in zip(weights, grids, strict=True):
        rows = codes[:, first : first + weight.shape[0]]
        out.append((grid.groups(rows.T.to(torch.uint8).contiguous()), scale, offset))
        first += weight.shape[0]
    return out


def gptq(
    weight: torch.Tensor, inputs: torch.Tensor, grid: Grid, damp: float = 0.01, block: int = 128
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (codes, scale, offset) on ``grid`` for ``weight`` [out, in], chosen to keep ``inputs @ weight.T``."""
    return gptq_shared([weight], inputs, grid, damp, block)[0]

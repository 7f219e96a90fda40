"""Per-channel scaling before quantization: move difficulty between activations and weights, exactly.

For a Linear ``y = x Wᵀ``, dividing input channel j by ``s_j`` and multiplying weight column j by ``s_j`` changes
nothing in full precision; the division is folded into the layer before (a norm's weight, or the rows of another
Linear). What it changes is what gets rounded:

- **AWQ** (Lin et al. 2023) searches ``s = mean|x|^α`` so the weights that meet large activations are scaled up and
  lose less to rounding (weight-only quantization);
- **SmoothQuant** (Xiao et al. 2023) picks ``s = max|x|^α / max|W|^(1-α)`` so the few activation channels with
  outliers shrink and int8 *activations* fit (W8A8).
"""

from __future__ import annotations

import torch

from lightlab.techniques.grids import Grid, fake_quantize


def _balanced(s: torch.Tensor) -> torch.Tensor:
    s = s.clamp(min=1e-5)
    return s / (s.max() * s.min()).sqrt()  # centre the scales around 1 (only their ratios matter)


@torch.no_grad()
def awq_scale(inputs: torch.Tensor, weights: list[torch.Tensor], grid: Grid, steps: int = 20) -> torch.Tensor:
    """Return the per-input-channel scale ``mean|x|^α`` (α searched on a grid) that best keeps ``x Wᵀ`` once rounded."""
    if inputs.numel() == 0:
        raise ValueError("AWQ needs calibration inputs: the calibration set is empty")
    x = inputs.reshape(-1, inputs.shape[-1]).float()
    act = x.abs().mean(0)
    targets = [x @ w.T for w in weights]
    best, best_scale = float("inf"), torch.ones_like(act)
    for alpha in torch.arange(steps) / steps:
        s = _balanced(act.pow(alpha))
        x_s = x / s  # (x / s) @ round(W * s)ᵀ: the layer once the scale is folded in and the weights rounded
        pairs = zip(weights, targets, strict=True)
        err = sum(float((x_s @ fake_quantize(w * s, grid).T - t).pow(2).mean()) for w, t in pairs)
        if err < best:
            best, best_scale = err, s
    return best_scale


@torch.no_grad()
def smooth_scale(inputs: torch.Tensor, weights: list[torch.Tensor], alpha: float = 0.5) -> torch.Tensor:
    """Return SmoothQuant's per-input-channel scale ``max|x|^α / max|W|^(1-α)``."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be between 0 and 1 (the share of difficulty moved to the weights), got {alpha}")
    if inputs.numel() == 0:
        raise ValueError("SmoothQuant needs calibration inputs: the calibration set is empty")
    x_max = inputs.reshape(-1, inputs.shape[-1]).float().abs().amax(0)
    w_max = torch.cat([w.abs() for w in weights]).amax(0).float()
    return (x_max.pow(alpha) / w_max.clamp(min=1e-5).pow(1 - alpha)).clamp(min=1e-5)

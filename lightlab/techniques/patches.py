"""Patch-based inference (MCUNetV2, Lin et al. 2021): run a CNN's first, memory-heavy stage one spatial patch at a time.

The first layers of a CNN work at full resolution, so they hold the largest activations: on a microcontroller they
set the peak SRAM. ``patch_based(model, PatchConfig(stage=3, grid=3))`` returns a model that cuts the stage's
*output* into grid x grid patches and computes each from the input region its receptive field needs (the patch
plus a halo of overlap), writing it into the stage's output buffer; only one patch's activations are alive at once.
The rest of the network then runs on the assembled output, unchanged. The output equals the whole forward pass
(zero padding is applied only at the image's border, as the original layers do), and the cost is the halo: the
overlapping pixels are computed by several patches (measured with ``ll.measure.count_macs``).

``receptive_rows`` is the per-layer rule a learner can write; ``compare`` measures whole against patched models:
peak SRAM (``ll.arena``), multiply-adds, and the largest output difference.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lightlab.measurement import arena, measure
from lightlab.measurement.budget import KB
from lightlab.measurement.report import Report
from lightlab.models.blocks import DepthwiseSeparable, InvertedResidual

Interval = tuple[int, int]
Region = tuple[Interval, Interval]  # (rows, columns), each [start, stop)

# Layers that act on each pixel alone: a patch needs exactly the pixels it outputs.
PER_PIXEL = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.SiLU, nn.Hardswish, nn.Hardsigmoid,
             nn.BatchNorm2d, nn.Identity, nn.Dropout)  # fmt: skip
SUPPORTED = "Conv2d, MaxPool2d, AvgPool2d, per-pixel layers (ReLU, BatchNorm2d...), Sequential, blocks.InvertedResidual"


@dataclass(frozen=True)
class PatchConfig:
    """Run the first ``stage`` layers (children of an nn.Sequential) on ``grid`` x ``grid`` patches of their output."""

    stage: int = 1
    grid: int = 2

    def __post_init__(self) -> None:
        if self.stage < 1:
            raise ValueError(f"stage must be >= 1 layer, got {self.stage}; e.g. stage=3 for the first three layers")
        if self.grid < 1:
            raise ValueError(f"grid must be >= 1 patch per side, got {self.grid}; grid=1 is the whole image")


def receptive_rows(layers: Sequence[tuple[int, int]], rows: int) -> int:
    """Return how many input rows ``rows`` output rows need through layers given as (kernel, stride), first layer
    first (an interior patch: no padding). Each layer, from the last back: rows -> (rows - 1) * stride + kernel."""
    for kernel, stride in reversed(layers):
        rows = (rows - 1) * stride + kernel
    return rows


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def _geometry(layer: nn.Module) -> list[tuple[int, int, int, int]] | None:
    """Return (kernel, stride, padding, dilation) per axis for a sliding-window layer, None for a per-pixel one."""
    if isinstance(layer, PER_PIXEL):
        return None
    if isinstance(layer, nn.Conv2d) and layer.padding_mode == "zeros" and not isinstance(layer.padding, str):
        parts = (layer.kernel_size, layer.stride, layer.padding, layer.dilation)
    elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d) and not layer.ceil_mode:
        if isinstance(layer, nn.AvgPool2d) and not layer.count_include_pad and _pair(layer.padding) != (0, 0):
            raise ValueError("AvgPool2d(count_include_pad=False) with padding cannot run by patches; pad with zeros")
        stride = layer.stride or layer.kernel_size
        parts = (layer.kernel_size, stride, layer.padding, getattr(layer, "dilation", 1))
    else:
        raise ValueError(f"{type(layer).__name__} cannot run by patches; supported: {SUPPORTED}")
    return list(zip(*(_pair(p) for p in parts), strict=True))


def _children(layer: nn.Module) -> tuple[list[nn.Module], bool] | None:
    """Return the layers a block runs one after the other and whether it adds its input (a skip), or None."""
    if isinstance(layer, nn.Sequential):
        return list(layer), False
    if isinstance(layer, DepthwiseSeparable):
        return [layer.depthwise, layer.pointwise], False
    if isinstance(layer, InvertedResidual):
        if not isinstance(layer.se, nn.Identity):
            raise ValueError(
                "squeeze-excite pools the whole image, so its block cannot run by patches; end the stage before it"
            )
        return [layer.expand, layer.depthwise, layer.project], layer.residual
    return None


def _out_size(layer: nn.Module, size: tuple[int, int]) -> tuple[int, int]:
    found = _children(layer)
    if found is not None:
        for child in found[0]:
            size = _out_size(child, size)
        return size
    geometry = _geometry(layer)
    if geometry is None:
        return size
    return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, (k, s, p, d) in zip(size, geometry, strict=True))


def _raw_need(geometry, out: Region) -> Region:
    """Return the input region a sliding window reads for ``out``, before clipping to the image (padding outside)."""
    return tuple(
        (a * s - p, (b - 1) * s - p + d * (k - 1) + 1) for (a, b), (k, s, p, d) in zip(out, geometry, strict=True)
    )


def _clip(region: Region, size: tuple[int, int]) -> Region:
    return tuple((max(a, 0), min(b, n)) for (a, b), n in zip(region, size, strict=True))


def _hull(a: Region, b: Region) -> Region:
    return tuple((min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b, strict=True))


def _crop(x: torch.Tensor, at: Region, want: Region) -> torch.Tensor:
    """Return the part of ``x`` (which covers ``at``) that covers ``want`` (a view, no copy)."""
    (r0, r1), (c0, c1) = ((w0 - a0, w1 - a0) for (w0, w1), (a0, _) in zip(want, at, strict=True))
    return x[:, :, r0:r1, c0:c1]


def _chain(children: list[nn.Module], out: Region, size: tuple[int, int]) -> tuple[list, list]:
    """Return each child's input size and the region of its output each child must produce, back from ``out``."""
    sizes = [size]
    for child in children:
        sizes.append(_out_size(child, sizes[-1]))
    regions = [out]
    for child, n in zip(reversed(children), reversed(sizes[:-1]), strict=True):
        regions.insert(0, needs(child, regions[0], n))
    return sizes, regions


def needs(layer: nn.Module, out: Region, size: tuple[int, int]) -> Region:
    """Return the region of ``layer``'s input (of ``size``) needed to compute region ``out`` of its output."""
    found = _children(layer)
    if found is not None:
        children, skip = found
        first = _chain(children, out, size)[1][0]
        return _hull(first, out) if skip else first
    geometry = _geometry(layer)
    return out if geometry is None else _clip(_raw_need(geometry, out), size)


def _run(layer: nn.Module, x: torch.Tensor, at: Region, out: Region, size: tuple[int, int]) -> torch.Tensor:
    """Return region ``out`` of ``layer``'s output, from ``x`` covering region ``at`` of its input (of ``size``)."""
    found = _children(layer)
    if found is not None:
        children, skip = found
        sizes, regions = _chain(children, out, size)
        y, y_at = x, at
        for child, n, want in zip(children, sizes, regions[1:], strict=False):
            y, y_at = _run(child, y, y_at, want, n), want
        return y + _crop(x, at, out) if skip else y
    geometry = _geometry(layer)
    if geometry is None:
        return layer(_crop(x, at, out))
    raw = _raw_need(geometry, out)
    inside = _clip(raw, size)
    y = _crop(x, at, inside)
    # Zeros only where the window leaves the image, as the layer's own padding does; inside, the halo is real data.
    pad = (inside[1][0] - raw[1][0], raw[1][1] - inside[1][1], inside[0][0] - raw[0][0], raw[0][1] - inside[0][1])
    if any(pad):
        y = F.pad(y, pad, value=float("-inf") if isinstance(layer, nn.MaxPool2d) else 0.0)
    (kh, sh, _, dh), (kw, sw, _, dw) = geometry
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(y, layer.weight, layer.bias, (sh, sw), 0, (dh, dw), layer.groups)
    if isinstance(layer, nn.MaxPool2d):
        return F.max_pool2d(y, (kh, kw), (sh, sw), 0, (dh, dw))
    return F.avg_pool2d(y, (kh, kw), (sh, sw), 0, divisor_override=layer.divisor_override)


def tiles(size: tuple[int, int], grid: int) -> list[Region]:
    """Return ``grid`` x ``grid`` near-equal regions covering an output of ``size`` (rows, columns), row by row."""
    if grid > min(size):
        raise ValueError(f"grid {grid} asks for more patches per side than the stage's output has pixels {size}")
    cut = [[round(i * n / grid) for i in range(grid + 1)] for n in size]
    rows, cols = (list(zip(c[:-1], c[1:], strict=True)) for c in cut)
    return [(r, c) for r in rows for c in cols]


class PatchedModel(nn.Module):
    """A model whose first stage runs patch by patch into one output buffer, then the rest on that buffer (in eval
    mode: a BatchNorm in training mode would normalise each patch by its own statistics)."""

    def __init__(self, stage: nn.Sequential, rest: nn.Sequential, grid: int):
        super().__init__()
        self.stage, self.rest, self.grid = stage, rest, grid

    def regions(self, size: tuple[int, int]) -> list[tuple[Region, Region]]:
        """Return, for each patch, (its region of the stage's output, the input region it reads: patch + halo)."""
        whole = _out_size(self.stage, size)
        return [(out, needs(self.stage, out, size)) for out in tiles(whole, self.grid)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        whole, buffer = ((0, size[0]), (0, size[1])), None
        for out, _ in self.regions(size):
            y = _run(self.stage, x, whole, out, size)
            if buffer is None:  # the stage's output buffer, allocated once its channel count is known
                buffer = y.new_zeros(x.shape[0], y.shape[1], *_out_size(self.stage, size))
            buffer[:, :, out[0][0] : out[0][1], out[1][0] : out[1][1]] = y
        return self.rest(buffer)


def _check(layer: nn.Module) -> None:
    """Raise ValueError naming the first layer of ``layer`` that cannot run by patches."""
    found = _children(layer)
    if found is None:
        _geometry(layer)
        return
    for child in found[0]:
        _check(child)


def patch_based(model: nn.Module, cfg: PatchConfig | None = None) -> PatchedModel:
    """Return an eval-mode copy of ``model`` (an nn.Sequential) whose first ``cfg.stage`` layers run on
    ``cfg.grid`` x ``cfg.grid`` patches, each with the halo its receptive field needs; ``model`` is not changed."""
    cfg = cfg or PatchConfig()
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"patch_based splits an nn.Sequential into a stage and the rest; got {type(model).__name__}: "
            "write your model as nn.Sequential(stage layers..., rest...)"
        )
    if cfg.stage >= len(model):
        raise ValueError(f"stage={cfg.stage} leaves no layer after the stage of this {len(model)}-layer model")
    layers = copy.deepcopy(list(model))
    for layer in layers[: cfg.stage]:
        _check(layer)
    for module in nn.Sequential(*layers[: cfg.stage]).modules():
        if hasattr(module, "inplace"):
            module.inplace = False  # a patch's input is a view of the image: never overwrite it
    return PatchedModel(nn.Sequential(*layers[: cfg.stage]), nn.Sequential(*layers[cfg.stage :]), cfg.grid).eval()


def compare(
    model: nn.Module, example: torch.Tensor, stage: int, grids: Sequence[int] = (2, 3, 4), itemsize: int = 1
) -> Report:
    """Return Report rows for ``model`` whole and run by patches at each grid: peak SRAM and the greedy arena in KB
    (in-place operators, ``itemsize`` bytes per value), multiply-adds, the extra ones (%) and the largest output
    difference."""
    x = example[:1]
    with torch.no_grad():
        reference = model.eval()(x)
    out = Report(environment=measure.environment())
    how = f"{itemsize} byte(s) per value, in-place operators, batch 1, input {list(x.shape[1:])}, KB = 1,024 bytes"
    variants = {"whole": model, **{f"{g}x{g} patches": patch_based(model, PatchConfig(stage, g)) for g in grids}}
    whole = measure.count_macs(model, x)
    for name, variant in variants.items():
        g = arena.graph(variant, x)
        with torch.no_grad():
            diff = float((variant(x) - reference).abs().max())
        macs = measure.count_macs(variant, x) if variant is not model else whole
        out.add(name, "peak_sram", arena.peak_bytes(g, itemsize, True) / KB, "KB", f"most bytes alive at once, {how}")
        out.add(name, "arena", arena.plan(g, itemsize, True).arena_bytes / KB, "KB", f"greedy-by-size arena, {how}")
        out.add(name, "macs", macs, "MACs", "torch FlopCounterMode / 2, batch 1")
        out.add(name, "extra_macs", 100 * (macs / whole - 1), "%", "multiply-adds above the whole model's (the halo)")
        out.add(name, "max_abs_diff", diff, "", "largest |patched - whole| over the outputs")
    return out

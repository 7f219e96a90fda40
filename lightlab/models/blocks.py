"""Efficient building blocks: depthwise-separable conv (MobileNet), inverted residual (MobileNetV2), squeeze-excite.

``make(kind, in_ch, out_ch)`` builds one block by name, ``formula`` gives its closed-form parameter and MAC counts,
``compare_blocks`` measures every kind side by side (counted, closed-form and timed), and ``network`` stacks blocks
into a small CNN a learner can train. Every conv has ``bias=False``: the BatchNorm after it has its own shift. The
explorer is ``ll.views.blocks.BlockExplorer``.
"""

from __future__ import annotations

import torch
from torch import nn

from lightlab import config
from lightlab.measurement import measure
from lightlab.measurement.report import Report

KINDS = ("conv", "dwsep", "inverted", "inverted_se")


def _check(in_ch: int, out_ch: int, kernel: int, stride: int) -> None:
    if in_ch < 1 or out_ch < 1:
        raise ValueError(f"channels must be >= 1, got in_ch={in_ch}, out_ch={out_ch}")
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(
            f"kernel must be odd and >= 1 (so that padding kernel//2 keeps the size), got {kernel}; use 1, 3, 5 or 7"
        )
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}; 1 keeps the size, 2 halves it")


def standard_conv(in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Return Conv2d-BatchNorm2d-ReLU: every output channel looks at every input channel (k*k*Cin*Cout weights)."""
    _check(in_ch, out_ch, kernel, stride)
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)
    )


class DepthwiseSeparable(nn.Module):
    """MobileNet v1 block: a k x k depthwise conv (one filter per channel), then a 1x1 pointwise conv mixing them."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        _check(in_ch, out_ch, kernel, stride)
        # groups=in_ch: each channel is filtered on its own, k*k*Cin weights instead of k*k*Cin*Cout.
        self.depthwise = nn.Sequential(
            nn.Conv2d(in_ch, in_ch, kernel, stride, kernel // 2, groups=in_ch, bias=False),
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
        )
        self.pointwise = standard_conv(in_ch, out_ch, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: pool each channel to one number, learn a 0..1 weight per channel, rescale."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be >= 1, got channels={channels}, reduction={reduction}")
        squeezed = max(1, channels // reduction)
        self.down, self.up = nn.Linear(channels, squeezed), nn.Linear(squeezed, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.up(torch.relu(self.down(x.mean(dim=(2, 3))))))
        return x * weights[:, :, None, None]


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, k x k depthwise, optional SE (V3), linear 1x1 project, skip if it fits."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, expand: int = 4, se: bool = False):
        super().__init__()
        _check(in_ch, out_ch, kernel, stride)
        if expand < 1:
            raise ValueError(f"expand must be >= 1, got {expand}; MobileNetV2 uses 6")
        hidden = in_ch * expand
        self.expand = nn.Sequential(
            nn.Conv2d(in_ch, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
        )
        self.se = SqueezeExcite(hidden) if se else nn.Identity()
        # Linear bottleneck: no ReLU after the projection, which would destroy information in few channels.
        self.project = nn.Sequential(nn.Conv2d(hidden, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return x + out if self.residual else out


def make(kind: str, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """Return a new block of ``kind`` (one of KINDS) mapping ``in_ch`` to ``out_ch`` channels."""
    if kind == "conv":
        return standard_conv(in_ch, out_ch, kernel, stride)
    if kind == "dwsep":
        return DepthwiseSeparable(in_ch, out_ch, kernel, stride)
    if kind in ("inverted", "inverted_se"):
        return InvertedResidual(in_ch, out_ch, kernel, stride, se=kind == "inverted_se")
    raise ValueError(f"unknown block kind {kind!r}; choose one of {', '.join(KINDS)}")


def formula(
    kind: str, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, size: int = 8, expand: int = 4
) -> dict[str, int]:
    """Return the closed-form {params, macs} of ``make(kind, ...)`` on a ``size`` x ``size`` input (batch 1).

    Params count conv weights plus 2 per BatchNorm channel (scale and shift); MACs count convs and SE's Linears
    (PyTorch's counter skips BatchNorm, ReLU and the additions).
    """
    _check(in_ch, out_ch, kernel, stride)
    if kind not in KINDS:
        raise ValueError(f"unknown block kind {kind!r}; choose one of {', '.join(KINDS)}")
    k2, pixels = kernel * kernel, _out_size(size, kernel, stride) ** 2
    if kind == "conv":
        return {"params": k2 * in_ch * out_ch + 2 * out_ch, "macs": k2 * in_ch * out_ch * pixels}
    if kind == "dwsep":
        return {
            "params": k2 * in_ch + 2 * in_ch + in_ch * out_ch + 2 * out_ch,
            "macs": (k2 * in_ch + in_ch * out_ch) * pixels,
        }
    hidden = in_ch * expand
    params = in_ch * hidden + 2 * hidden + k2 * hidden + 2 * hidden + hidden * out_ch + 2 * out_ch
    macs = in_ch * hidden * size * size + (k2 * hidden + hidden * out_ch) * pixels
    if kind == "inverted_se":
        squeezed = max(1, hidden // 4)
        params += 2 * hidden * squeezed + squeezed + hidden  # two Linears with biases
        macs += 2 * hidden * squeezed
    return {"params": params, "macs": macs}


def _out_size(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def cost(block: nn.Module, in_shape: tuple[int, int, int]) -> dict[str, int]:
    """Return {params, macs} of ``block`` counted by ll.measure on a batch-1 input of ``in_shape`` (C, H, W)."""
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (channels, height, width) of positive sizes, got {tuple(in_shape)}")
    was_training = block.training
    block.eval()  # BatchNorm in training mode refuses a batch of one 1x1 image
    try:
        macs = measure.count_macs(block, torch.zeros(1, *in_shape))
    finally:
        block.train(was_training)
    return {"params": measure.count_params(block), "macs": macs}


def compare_blocks(
    in_ch: int,
    out_ch: int,
    size: int,
    kernel: int = 3,
    stride: int = 1,
    *,
    kinds: tuple[str, ...] = KINDS,
    batch: int = 1,
    threads: int = 1,
    rounds: int | None = None,
    repeats: int | None = None,
    seed: int = 0,
) -> Report:
    """Return a Report of every block kind on a [batch, in_ch, size, size] input: counted and closed-form params
    and MACs, and p50 latency ``latency_p50_b{batch}`` (``measure.interleaved`` on ``threads`` threads). The standard
    conv comes first: ``report.versus("conv")`` gives each kind's ratios to it.

    One thread by default: a per-core comparison that other programs cannot disturb by taking away a core that
    a multi-threaded operation waits for (on a busy machine that adds milliseconds to any large operation).
    """
    if size < 1 or batch < 1 or threads < 1:
        raise ValueError(f"size, batch and threads must be >= 1, got size={size}, batch={batch}, threads={threads}")
    kinds = tuple(dict.fromkeys(("conv", *kinds)))  # the baseline is always measured, and first
    config.seed_everything(seed)
    models = {kind: make(kind, in_ch, out_ch, kernel, stride).eval() for kind in kinds}
    with config.using_threads(threads):
        timings = measure.interleaved(models, torch.randn(batch, in_ch, size, size), rounds=rounds, repeats=repeats)
    report = Report(environment=measure.environment())
    for kind, model in models.items():
        counted, closed = cost(model, (in_ch, size, size)), formula(kind, in_ch, out_ch, kernel, stride, size)
        report.add(kind, "params", counted["params"], "count", "sum of parameter elements (convs + BatchNorm)")
        report.add(kind, "params_formula", closed["params"], "count", f"closed form, blocks.formula({kind!r})")
        report.add(kind, "macs", counted["macs"], "MACs", "torch FlopCounterMode / 2, batch 1")
        report.add(kind, "macs_formula", closed["macs"], "MACs", f"closed form, blocks.formula({kind!r})")
        measure.add_timing(report, kind, timings[kind])
    return report


def network(
    in_shape: tuple[int, int, int],
    classes: int,
    kind: str,
    widths: tuple[int, ...] = (32, 64, 128),
    kernel: int = 3,
    seed: int = 0,
) -> nn.Sequential:
    """Return a seeded CNN: a standard conv stem, one ``kind`` block per width (stride 2 while the image is at
    least 4 pixels wide), global average pooling and a Linear head."""
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (channels, height, width) of positive sizes, got {tuple(in_shape)}")
    if classes < 1:
        raise ValueError(f"classes must be >= 1, got {classes}")
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be a non-empty tuple of channel counts >= 1, got {widths}; e.g. (32, 64)")
    if kind not in KINDS:
        raise ValueError(f"unknown block kind {kind!r}; choose one of {', '.join(KINDS)}")
    config.seed_everything(seed)
    c, h, w = in_shape
    layers: list[nn.Module] = [standard_conv(c, widths[0], kernel)]
    c = widths[0]
    for width in widths:
        stride = 2 if min(h, w) >= 4 else 1
        layers.append(make(kind, c, width, kernel, stride))
        c, h, w = width, _out_size(h, kernel, stride), _out_size(w, kernel, stride)
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))

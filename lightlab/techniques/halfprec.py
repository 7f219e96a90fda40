"""Half precision: float16 and bfloat16, two ways to spend 16 bits, measured side by side with float32.

- float16 (IEEE 754 half): 5 exponent bits, 10 mantissa bits. Fine steps (2**-10, about 0.1 %), small range: the
  largest number is 65504, and anything larger becomes inf.
- bfloat16 (Google Brain): float32's 8 exponent bits (range up to 3.4e38), only 7 mantissa bits: steps 8x coarser
  (2**-7, about 0.8 %), but it never overflows where float32 does not.

Both halve the file. Speed depends on the CPU: without native half arithmetic (AVX-512 FP16, AVX-512 BF16 or AMX on
x86, FEAT_FP16 / BF16 on ARM) every operation converts to float32 and back, so half precision can be *slower*.
``half(model, "bfloat16")`` returns a copy that takes and returns float32, so ``ll.measure`` and
``ll.train.evaluate`` treat it like any model; ``compare_half`` measures the three side by side.
"""

from __future__ import annotations

import copy

import pandas as pd
import torch
from torch import nn

from lightlab.data.tasks import Task
from lightlab.measurement.measure import batch_inputs
from lightlab.measurement.report import Report
from lightlab.techniques.int8 import benchmark

FORMATS = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# CPU flags (Linux /proc/cpuinfo) that give native half-precision arithmetic, not conversions to float32.
NATIVE = {
    "float16": ("avx512_fp16", "fphp", "asimdhp"),
    "bfloat16": ("avx512_bf16", "amx_bf16", "bf16"),
}


def _dtype(name: str) -> torch.dtype:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}: choose one of {', '.join(FORMATS)}")
    return FORMATS[name]


def formats() -> pd.DataFrame:
    """Return each format's bits, exponent and mantissa bits, largest value, smallest normal and step at 1.0."""
    rows = []
    for name, dtype in FORMATS.items():
        info = torch.finfo(dtype)
        mantissa = -round(torch.log2(torch.tensor(info.eps)).item())
        rows.append(
            {
                "format": name,
                "bits": info.bits,
                "exponent bits": info.bits - 1 - mantissa,
                "mantissa bits": mantissa,
                "largest": info.max,
                "smallest normal": info.tiny,
                "step at 1.0": info.eps,
                "256 + 1": (torch.tensor(256.0, dtype=dtype) + 1).item(),
            }
        )
    return pd.DataFrame(rows).set_index("format")


class HalfModel(nn.Module):
    """A model whose weights and arithmetic are in a 16-bit format; it takes and returns float32 tensors."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model, self.dtype = model, dtype
        self.precision = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(dtype, "fp32")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the model's output on ``x`` cast to the format, as float32."""
        return self.model(x.to(self.dtype)).to(torch.float32)


def half(model: nn.Module, fmt: str = "bfloat16") -> HalfModel:
    """Return a copy of ``model`` with every parameter and buffer in ``fmt`` ('float16' or 'bfloat16')."""
    dtype = _dtype(fmt)
    return HalfModel(copy.deepcopy(model).eval().to(dtype), dtype)


def native_half() -> dict[str, list[str]]:
    """Return, per 16-bit format, the native arithmetic flags this CPU reports (empty: it converts to float32)."""
    try:
        flags = set(open("/proc/cpuinfo").read().split())
    except OSError:
        flags = set()
    return {fmt: [f for f in names if f in flags] for fmt, names in NATIVE.items()}


# Whether PyTorch's CPU kernels use the native instructions (torch 2.13, oneDNN): measured, not promised.
KERNELS = {
    "float16": "PyTorch's float16 convolutions on a CPU are often slower than its float32 ones",
    "bfloat16": "oneDNN runs bfloat16 convolutions and matrix products on them",
}


def outlook() -> str:
    """Return one paragraph on whether float16 and bfloat16 can be fast on this CPU, and why."""
    parts = []
    for fmt, flags in native_half().items():
        if flags:
            parts.append(
                f"{fmt}: this CPU has native arithmetic ({', '.join(flags)}), but it pays only where the kernels "
                f"use it ({KERNELS[fmt]}): the timing says"
            )
        else:
            parts.append(
                f"{fmt}: no native arithmetic on this CPU, so every operation converts to float32 and back: "
                "expect it to be no faster, often slower, than float32 (the file is still half the size)"
            )
    return "; ".join(parts) + "."


def logit_error(model: nn.Module, x: torch.Tensor, fmt: str) -> float:
    """Return the largest |output in ``fmt`` - output in float32| over the inputs ``x``."""
    reference = copy.deepcopy(model).eval()  # eval() on the caller's model would change its mode
    with torch.inference_mode():
        return (half(model, fmt)(x) - reference(x)).abs().max().item()


def softmax_overflow(model: nn.Module, task: Task) -> pd.DataFrame:
    """Return, per format, the largest logit on the test split and the share of images whose textbook softmax
    exp(z) / sum(exp(z)) overflows (inf or NaN), and the share once the largest logit is subtracted first."""
    x = task.splits["test"].tensors[0]
    with torch.inference_mode():
        z = copy.deepcopy(model).eval()(x)
    rows = []
    for name, dtype in FORMATS.items():
        zz = z.to(dtype)
        e = torch.exp(zz)
        naive = e / e.sum(1, keepdim=True)
        stable = torch.softmax(zz - zz.max(1, keepdim=True).values, dim=1)
        rows.append(
            {
                "format": name,
                "largest logit": zz.max().item(),
                "largest exp(logit)": e.max().item(),
                "softmax broken (%)": 100 * (~torch.isfinite(naive)).any(1).float().mean().item(),
                "after subtracting the max (%)": 100 * (~torch.isfinite(stable)).any(1).float().mean().item(),
            }
        )
    return pd.DataFrame(rows).set_index("format")


def compare_half(
    model: nn.Module,
    *,
    task: Task | None = None,
    example: torch.Tensor | None = None,
    batch: int = 64,
    timed: bool = True,
    repeats: int | None = None,
) -> Report:
    """Return float32, float16 and bfloat16 side by side: accuracy (with a task), file size, and the largest logit
    error against float32; with ``timed``, latency and speed-up measured by ``ll.int8.benchmark``."""
    models = {"float32": model, "float16": half(model, "float16"), "bfloat16": half(model, "bfloat16")}
    report = benchmark(models, task=task, example=example, batch=batch, timed=timed, repeats=repeats)
    x = batch_inputs(task, example, 256)
    for name in ("float16", "bfloat16"):
        error = logit_error(model, x, name)
        report.add(name, "logit_error", error, "units", f"largest |output - float32 output| on {len(x)} inputs")
    return report

"""Linear layers that store quantized weights and multiply with a real low-bit kernel of PyTorch's CPU backend.

- ``QuantLinear``: weight-only, any grid of ``grids``. Up to 4 bits it runs ``_weight_int4pack_mm_for_cpu`` (4-bit
  codes, a scale and offset per group of 32/64/128/256); 8 bits per channel symmetric runs ``_weight_int8pack_mm``.
  Both read bf16 activations. Other grids have no fast kernel here: they dequantize on every call, and say so.
- ``W8A8Linear``: int8 weights *and* int8 activations (per token, dynamic), multiplied by ``torch._int_mm`` into
  int32 and rescaled: the integer path that makes activation outliers matter.
- ``Int8Embedding``: a token table stored as int8 rows with a scale each (as llama.cpp's Q8_0 embedding does).

The kernels are private aten operators of torch 2.13 (pinned): the same ones torchao's weight-only configs call.
"""

from __future__ import annotations

import torch
from torch import nn

from lightlab.techniques.grids import Grid, dequantize, quantize

KERNEL_GROUPS = (32, 64, 128, 256)  # the group sizes the int4 kernel accepts


def kernel_for(grid: Grid, in_features: int) -> str:
    """Return the kernel a ``QuantLinear`` on ``grid`` uses: 'int4pack', 'int8pack' or 'dequantize'."""
    if grid.bits <= 4 and any(in_features % g == 0 and _divides(grid, g, in_features) for g in KERNEL_GROUPS):
        return "int4pack"
    if grid.bits == 8 and grid.symmetric and grid.group_size == "channel":
        return "int8pack"
    return "dequantize"


def _divides(grid: Grid, kernel_group: int, in_features: int) -> bool:
    # A coarser grid (per channel, per tensor, or a multiple of the kernel's group) is repeated into kernel groups.
    size = in_features if isinstance(grid.group_size, str) else grid.group_size
    return size % kernel_group == 0


class QuantLinear(nn.Module):
    """A bias-free Linear whose weight is stored as codes on ``grid`` and multiplied by a low-bit kernel."""

    def __init__(self, codes: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, grid: Grid, shape: tuple):
        super().__init__()
        self.grid, self.out_features, self.in_features = grid, *shape
        self.kernel = kernel_for(grid, self.in_features)
        # The kernels read bf16 scales; the fallback keeps fp16 ones (as GGUF does).
        dtype = torch.float16 if self.kernel == "dequantize" else torch.bfloat16
        self.register_buffer("scale", scale.to(dtype))
        self.register_buffer("offset", offset.to(dtype))
        if self.kernel == "int4pack":
            group = max(g for g in KERNEL_GROUPS if _divides(grid, g, self.in_features))
            self.group = group
            # The kernel stores codes as nibbles and computes (code - 8) * scale + zero per group of `group`.
            flat = codes.reshape(self.out_features, self.in_features).to(torch.int32)
            self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(flat, 1))
            scale_g, offset_g = self._per_kernel_group(scale), self._per_kernel_group(offset)
            pair = torch.stack([scale_g, offset_g + 8 * scale_g], dim=-1).transpose(0, 1).contiguous()
            self.register_buffer("scales_and_zeros", pair.to(torch.bfloat16), persistent=False)
        elif self.kernel == "int8pack":
            signed = codes.reshape(shape).to(torch.int16) - 2 ** (grid.bits - 1)
            self.register_buffer("qweight", signed.to(torch.int8))
            self.scale = self.scale.reshape(-1)
        else:
            self.register_buffer("codes", codes)

    def _per_kernel_group(self, values: torch.Tensor) -> torch.Tensor:
        # [out or 1, groups] on the grid -> [out, in / group] on the kernel's groups.
        values = values.float().reshape(values.shape[0], -1)
        values = values.expand(self.out_features, -1) if values.shape[0] == 1 else values
        return values.repeat_interleave(self.in_features // values.shape[1] // self.group, dim=1)

    @classmethod
    def from_weight(cls, weight: torch.Tensor, grid: Grid) -> QuantLinear:
        """Return a QuantLinear holding ``weight`` rounded to nearest on ``grid`` (RTN)."""
        return cls(*quantize(weight, grid), grid, tuple(weight.shape))

    def weight_float(self) -> torch.Tensor:
        """Return the float weight this layer really computes with."""
        eye = torch.eye(self.in_features)
        return self.forward(eye).T.float() if self.kernel != "dequantize" else self._dequantized()

    def _dequantized(self) -> torch.Tensor:
        shape = (self.out_features, self.in_features)
        return dequantize(self.codes, self.scale.float(), self.offset.float(), shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x @ W.T computed by the layer's kernel (fp32 in, fp32 out)."""
        flat = x.reshape(-1, self.in_features)
        if self.kernel == "int4pack":
            y = torch.ops.aten._weight_int4pack_mm_for_cpu(
                flat.to(torch.bfloat16), self.packed, self.group, self.scales_and_zeros
            )
        elif self.kernel == "int8pack":
            y = torch.ops.aten._weight_int8pack_mm(flat.to(torch.bfloat16), self.qweight, self.scale)
        else:
            y = flat @ self._dequantized().T
        return y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, {self.grid.label}, kernel={self.kernel}"


def _int8_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (int8 rows, one scale per row): symmetric per-row int8."""
    scale = (torch.maximum(weight.amax(-1), -weight.amin(-1)) / 127).clamp(min=1e-12)
    rows = weight / scale[:, None]  # the one temporary as large as the weight
    return rows.round_().clamp_(-127, 127).to(torch.int8), scale


def _int8_tensor(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (int8 x, its one scale repeated per row): symmetric per-tensor int8."""
    scale = (x.abs().amax() / 127).clamp(min=1e-12)
    return torch.round(x / scale).clamp(-127, 127).to(torch.int8), scale.expand(x.shape[0])


class W8A8Linear(nn.Module):
    """A bias-free Linear in integers: int8 weights per channel, int8 activations (one scale per token, or one for
    the whole tensor), int32 accumulation."""

    def __init__(self, weight: torch.Tensor, per_token: bool = True):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.per_token = per_token
        qweight, scale = _int8_rows(weight.float())
        self.register_buffer("qweight_t", qweight.T.contiguous())
        self.register_buffer("weight_scale", scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x @ W.T with x quantized to int8 on the fly."""
        flat = x.reshape(-1, self.in_features).float()
        xq, x_scale = _int8_rows(flat) if self.per_token else _int8_tensor(flat)
        if flat.shape[0] <= 16:  # _int_mm needs more than 16 rows: pad a short batch (decode) with zeros
            pad = torch.zeros(17 - flat.shape[0], self.in_features, dtype=torch.int8)
            acc = torch._int_mm(torch.cat([xq, pad]), self.qweight_t)[: flat.shape[0]]
        else:
            acc = torch._int_mm(xq, self.qweight_t)
        y = acc.float() * x_scale[:, None] * self.weight_scale[None, :]
        return y.to(x.dtype).reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        per = "token" if self.per_token else "tensor"
        return f"{self.in_features} -> {self.out_features}, int8 weights per channel x int8 activations per {per}"


class Int8Embedding(nn.Module):
    """A token table stored as int8 rows with one scale per row; looks rows up and rescales them."""

    def __init__(self, qweight: torch.Tensor, scale: torch.Tensor):
        super().__init__()
        self.register_buffer("qweight", qweight)  # may be shared with a tied output layer's int8 weight
        self.register_buffer("scale", scale.reshape(-1))

    @classmethod
    def from_weight(cls, weight: torch.Tensor) -> Int8Embedding:
        """Return the table ``weight`` [tokens, dim] rounded to int8 per row."""
        return cls(*_int8_rows(weight.float()))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Return the float vectors of ``ids``."""
        return self.qweight[ids].float() * self.scale[ids, None].float()

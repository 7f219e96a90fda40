"""Sparse storage for pruned Linear layers: keep only the non-zero weights (CSR) and multiply with a sparse kernel.

A dense kernel multiplies zeros as fast as any other number, so unstructured pruning alone saves no time.
Compressed sparse row (CSR) storage skips the zeros, but pays for an index per weight and irregular memory
access: it wins only at high sparsity on large layers. Measure it with ``ll.prune.speed_comparison``.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn


class SparseLinear(nn.Module):
    """A Linear layer stored in CSR: only its non-zero weights, their columns and where each row starts."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        with warnings.catch_warnings():  # PyTorch flags CSR as "beta" once per process
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            csr = linear.weight.detach().to_sparse_csr()
        # CSR is three plain arrays; 32-bit indices take half the bytes of PyTorch's default 64-bit ones.
        self.values = nn.Parameter(csr.values().clone(), requires_grad=False)
        self.register_buffer("col_indices", csr.col_indices().int())
        self.register_buffer("crow_indices", csr.crow_indices().int())
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        torch.sparse_csr_tensor(
            self.crow_indices, self.col_indices, self.values, size=self.shape, check_invariants=True
        )  # validated once here, so forward can skip the check

    @property
    def shape(self) -> tuple[int, int]:
        """Return the (out_features, in_features) shape of the weight."""
        return self.out_features, self.in_features

    @property
    def weight(self) -> torch.Tensor:
        """Return the weight as a CSR tensor over the three arrays (nothing is copied)."""
        return torch.sparse_csr_tensor(
            self.crow_indices, self.col_indices, self.values, size=self.shape, check_invariants=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return x W^T + b, computed as (W x^T)^T because the sparse operand must come first."""
        flat = x.reshape(-1, self.in_features)
        out = torch.sparse.mm(self.weight, flat.T).T
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        nnz = self.values.numel()
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nonzero={nnz} ({nnz / (self.in_features * self.out_features):.1%})"
        )


def _layer_sparsity(weight: torch.Tensor) -> float:
    return 1.0 - torch.count_nonzero(weight).item() / weight.numel()


def to_sparse(model: nn.Module, *, min_sparsity: float = 0.9) -> nn.Module:
    """Return a copy of ``model`` whose Linear layers with at least ``min_sparsity`` zeros use CSR weights."""
    if not 0 <= min_sparsity <= 1:
        raise ValueError(f"min_sparsity must be in [0, 1], got {min_sparsity}")
    out = copy.deepcopy(model)
    targets = [
        (name, m)
        for name, m in out.named_modules()
        if type(m) is nn.Linear and _layer_sparsity(m.weight.detach()) >= min_sparsity
    ]
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(out.get_submodule(parent_name), child, SparseLinear(linear))
    return out.eval()


def count_nonzero(model: nn.Module) -> int:
    """Return the number of parameter elements that are not zero (a CSR layer's parameters are its non-zeros)."""
    return sum(int(torch.count_nonzero(p.detach())) for p in model.parameters())

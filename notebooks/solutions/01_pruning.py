"""Solutions to the exercises of notebook 01 (kept apart from the notebook; tested in tests/test_solutions_01.py)."""

import torch
from torch import nn

import lightlab as ll
from lightlab.techniques.prune import PruneConfig


def magnitude_mask(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Exercise 1: True for the weights to keep; the round(sparsity * numel) smallest |w| are removed."""
    k = round(sparsity * weight.numel())
    if k == 0:  # torch.kthvalue needs k >= 1
        return torch.ones_like(weight, dtype=torch.bool)
    threshold = weight.abs().flatten().kthvalue(k).values
    # Weights tied with the threshold are all removed; the reference (topk) breaks ties by position instead.
    return weight.abs() > threshold


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Exercise 6: True for the n largest |w| of every m consecutive weights along each row (the input dimension)."""
    groups = weight.abs().reshape(-1, m)  # a row of [out, in] splits into in / m groups of m consecutive weights
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(1, groups.topk(n, dim=1).indices, True)  # exactly n per group, even among ties
    return keep.view_as(weight)


def small_file_model(task: ll.Task) -> nn.Module:
    """Exercise 4: 60 % of the channels removed (about 16 % of the parameters), then fine-tuned."""
    large = ll.zoo.pretrained("digits-large")
    pruned = ll.prune.prune(large, PruneConfig(0.6, structured=True), task=task)
    return ll.prune.finetune(pruned, task=task)


def small_file_model_sparse(task: ll.Task) -> nn.Module:
    """Exercise 4, second route: 90 % global unstructured, fine-tuned, its Linear layers stored as CSR."""
    large = ll.zoo.pretrained("digits-large")
    tuned = ll.prune.finetune(ll.prune.prune(large, PruneConfig(0.9, scope="global")), task=task)
    return ll.sparse.to_sparse(tuned, min_sparsity=0.7)

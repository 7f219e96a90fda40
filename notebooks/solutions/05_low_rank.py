"""Solutions to the exercises of notebook 05 (kept apart from the notebook; tested in tests/test_solutions_05.py)."""

import torch
from torch import nn

import lightlab as ll
from lightlab.techniques.lowrank import LowRankConfig


def factorize(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 1: the truncated SVD, sqrt of the kept singular values on each side."""
    u, s, vh = torch.linalg.svd(weight, full_matrices=False)  # vh is Vᵀ, singular values largest first
    root = s[:rank].sqrt()
    return u[:, :rank] * root, root[:, None] * vh[:rank]


def factored_params(m: int, n: int, rank: int) -> int:
    """Exercise 2: U is m × r and V is r × n."""
    return rank * (m + n)


def small_model(task: ll.Task) -> nn.Module:
    """Exercise 4: the fc layer and the second convolution at rank 16, then 3 fine-tuning epochs (~5 % of the file)."""
    large = ll.zoo.pretrained("digits-large")
    return ll.lowrank.lowrank(large, LowRankConfig(rank={"6": 16, "2": 16}, epochs=3), task=task)

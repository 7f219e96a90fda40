"""Solutions to the exercises of notebook 31 (kept apart from the notebook; tested in tests/test_solutions_31.py)."""

import torch

import lightlab as ll


def rtn(w: torch.Tensor, bits: int, group_size: int) -> torch.Tensor:
    """Exercise 1: round each group of ``group_size`` weights of a row to the nearest of 2**bits levels between its
    minimum and its maximum, and return the weights those codes stand for."""
    rows, cols = w.shape
    groups = w.reshape(rows, cols // group_size, group_size)
    low = groups.amin(-1, keepdim=True)
    scale = (groups.amax(-1, keepdim=True) - low) / (2**bits - 1)
    codes = torch.round((groups - low) / scale)
    return (codes * scale + low).reshape(rows, cols)


def q4_1_grid(block: torch.Tensor) -> tuple[float, float]:
    """Exercise 2: the smallest weight of a Q4_1 block has code 0 and the largest code 15, so the minimum is the
    smallest weight and the scale a fifteenth of the range."""
    minimum = float(block.min())
    return float(block.max() - block.min()) / 15, minimum


def smooth(x_max: torch.Tensor, w_max: torch.Tensor, alpha: float) -> torch.Tensor:
    """Exercise 3: SmoothQuant's scale per input channel; x / s and W * s split the range between them."""
    return x_max.pow(alpha) / w_max.pow(1 - alpha)


def table_cost(model, text, prompt) -> ll.views.lmquant.Ladder:
    """Exercise 4: the same int4 g32 weights with the token table in int8 rows and in fp32, measured side by side."""
    ladder = ll.views.lmquant.Ladder(model, text, prompt)
    grid = ll.grids.Grid(4, 32)
    ladder.run([ll.lmquant.LMQuantConfig(grid), ll.lmquant.LMQuantConfig(grid, embedding="fp32")])
    return ladder

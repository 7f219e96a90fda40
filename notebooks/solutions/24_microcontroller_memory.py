"""Solutions to the exercises of notebook 24 (kept apart from the notebook; tested in tests/test_solutions_24.py)."""

from collections.abc import Mapping, Sequence

from torch import nn

import lightlab as ll
from lightlab.techniques.patches import PatchConfig


def peak_memory(order: Sequence[str], sizes: Mapping[str, int], consumers: Mapping[str, Sequence[str]]) -> int:
    """Exercise 1: the most bytes alive at once when the steps run in ``order`` (an output lives to the end)."""
    position = {name: i for i, name in enumerate(order)}
    # A tensor is freed after its LAST consumer has run; one that nobody reads is an output, kept to the end.
    last = {t: max((position[r] for r in readers), default=len(order)) for t, readers in consumers.items()}
    alive, peak = set(), 0
    for i, name in enumerate(order):
        alive.add(name)
        peak = max(peak, sum(sizes[t] for t in alive))
        alive = {t for t in alive if last[t] > i}
    return peak


def receptive_rows(layers: Sequence[tuple[int, int]], rows: int) -> int:
    """Exercise 2: the input rows that ``rows`` output rows need, walking back from the last layer."""
    for kernel, stride in reversed(layers):
        rows = (rows - 1) * stride + kernel  # n outputs span n - 1 strides plus one window
    return rows


def fit_the_frame(model: nn.Module) -> nn.Module:
    """Exercise 3: the whole convolutional trunk (four layers) by 3 x 3 patches: 203 KB at int8, +20 % MACs.

    Three layers are not enough: the fourth (an inverted residual at 48 x 48) then holds 332 KB on its own; and
    2 x 2 patches of four layers still peak at 317 KB.
    """
    return ll.patches.patch_based(model, PatchConfig(stage=4, grid=3))


def greedy_is_not_optimal() -> tuple[list[str], dict[str, int], dict[str, list[str]]]:
    """Exercise 4: a graph whose greedy arena (8 bytes) exceeds its peak (7 bytes).

    Greedy places the two 3-byte tensors first: t0 at 0, t1 at 3 (they meet at step 1); t2 then fits at 0 (t0 is
    dead by then), which leaves t3 no room below t1: it goes to 6. Putting t1 at 0 and t0, t2, t3 above it needs 7.
    """
    order = ["t0", "t1", "t2", "t3"]
    sizes = {"t0": 3, "t1": 3, "t2": 2, "t3": 2}
    consumers = {"t0": ["t1"], "t1": ["t2", "t3"], "t2": [], "t3": []}
    return order, sizes, consumers

"""Solutions to the exercises of notebook 04 (kept apart from the notebook; tested in tests/test_solutions_03_04.py)."""

import heapq
from pathlib import Path

import torch

import lightlab as ll


def huffman_code_lengths(counts: dict) -> dict:
    """Exercise 1: {symbol: Huffman code length in bits} for the symbol counts."""
    if len(counts) == 1:
        return {symbol: 1 for symbol in counts}
    heap = [(n, i, {symbol: 0}) for i, (symbol, n) in enumerate(counts.items())]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        n1, _, a = heapq.heappop(heap)
        n2, _, b = heapq.heappop(heap)
        heapq.heappush(heap, (n1 + n2, tie, {s: d + 1 for s, d in (a | b).items()}))
        tie += 1
    return heap[0][2]


def shared_weight_bits(kept: int, bits: int) -> int:
    """Exercise 2: bits of ``kept`` indices of ``bits`` bits each plus a float32 codebook of 2**bits values."""
    return kept * bits + 2**bits * 32


def layer_6_prediction(model: torch.nn.Module, bits: int = 4) -> int:
    """Exercise 2: predicted bytes of layer 6 in the quantized file: bitmap + indices + codebook."""
    weight = model.get_submodule("6").weight
    kept = int((weight != 0).sum())
    return -(-weight.numel() // 8) + -(-kept * bits // 8) + 2**bits * 4


# Exercise 3: prune the big layer harder (97.5 %), leave the second convolution a little more (85 %), longer
# fine-tuning (10 epochs) to recover.
TARGET = ll.compress.CompressConfig(sparsity={"0": 0.5, "2": 0.85, "6": 0.975, "9": 0.7}, bits=4,
                                    finetune_epochs=10, codebook_epochs=2)


def exercise_3(task: ll.Task, model: torch.nn.Module, folder: Path) -> ll.compress.CompressionResult:
    """Exercise 3: a file >= 75x smaller than FP32, accuracy within 1 point."""
    return ll.compress.compress(model, TARGET, task=task, path=Path(folder) / "target.lldc")

"""Solutions to the exercises of notebook 30 (kept apart from the notebook; tested in tests/test_solutions_30.py)."""

import pandas as pd
import torch

import lightlab as ll


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, tokens: int, bytes_per_value: int) -> int:
    """Exercise 1: a key and a value (2) of head_dim numbers per KV head, layer and token, bytes_per_value each."""
    return 2 * layers * kv_heads * head_dim * tokens * bytes_per_value


def tokens_that_fit(budget_bytes: float, bytes_per_value: int) -> int:
    """Exercise 1, the follow-up: SmolLM2's context (batch 1) that fits a cache budget (100 MB: 2,170 tokens in fp32,
    4,340 in fp16)."""
    return int(budget_bytes // kv_cache_bytes(30, 3, 64, 1, bytes_per_value))


def perplexity_from_losses(losses: torch.Tensor) -> float:
    """Exercise 2: exp of the mean loss (nats), one number for all the tokens."""
    return float(torch.as_tensor(losses, dtype=torch.float64).mean().exp())


def decode_bandwidth(weight_bytes: float, tokens_per_s: float) -> float:
    """Exercise 3: bytes of weights read per second, since each decode step reads every weight once."""
    return weight_bytes * tokens_per_s


def batch_decode(model, ids: torch.Tensor, batches=(1, 8), new_tokens: int = 8, rounds: int = 2) -> pd.DataFrame:
    """Exercise 4: one decode step's time at each batch size (best of alternating rounds) and the whole batch's
    tokens per second (batch / step time)."""
    best: dict[int, float] = {}
    for _ in range(rounds):  # the batches take turns, so that a busy spell of the machine hits them alike
        for b in batches:
            _, decode = ll.generation.time_generation(model, ids.repeat(b, 1), new_tokens)
            best[b] = min(best.get(b, float("inf")), decode.p50)
    df = pd.DataFrame({"batch": list(best), "ms per step": list(best.values())})
    df["tokens/s (whole batch)"] = df["batch"] / df["ms per step"] * 1e3
    df["vs batch 1 (x)"] = df["tokens/s (whole batch)"] / df["tokens/s (whole batch)"].iloc[0]
    return df.set_index("batch")

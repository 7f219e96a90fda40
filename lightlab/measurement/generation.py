"""Measure a generative language model: prefill and decode speed, time to first token, weights and KV cache,
perplexity and energy per token, as ``Report`` rows with their methods.

It works with any causal LM called as ``model(ids, cache=..., use_cache=True) -> .logits, .cache`` (a transformers
model, or one whose Linears were swapped for quantized ones); it imports no model code.
"""

from __future__ import annotations

import gc
import math
import os
import tempfile
import time
from collections.abc import Mapping

import torch
from torch import nn

from lightlab.measurement.energy import measure_energy
from lightlab.measurement.measure import ROUNDS, Timing, add_timing
from lightlab.measurement.meter import cpu_seconds, foreign_cores
from lightlab.measurement.report import Report


def context_length(model: nn.Module) -> int:
    """Return the longest sequence the model was built for (its position limit)."""
    return int(model.config.max_position_embeddings)


def check_ids(model: nn.Module, ids: torch.Tensor, new_tokens: int = 0) -> torch.Tensor:
    """Return ``ids`` as a [1, n] batch if prompt plus ``new_tokens`` fit the context, else raise saying by how much."""
    ids = torch.as_tensor(ids)
    ids = ids[None] if ids.dim() == 1 else ids
    if ids.dim() != 2 or ids.shape[1] == 0 or ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"ids must be a non-empty 1-D or [batch, n] tensor of token ids, got {tuple(ids.shape)}")
    if new_tokens < 0:
        raise ValueError(f"new_tokens must be >= 0, got {new_tokens}")
    limit, vocab = context_length(model), model.config.vocab_size
    if ids.shape[1] + new_tokens > limit:
        raise ValueError(
            f"the prompt has {ids.shape[1]} tokens and {new_tokens} more are asked for, but the model's context is "
            f"{limit} tokens: shorten the prompt by {ids.shape[1] + new_tokens - limit} tokens"
        )
    if int(ids.max()) >= vocab or int(ids.min()) < 0:
        raise ValueError(
            f"token id {int(ids.max())} is outside this model's vocabulary of {vocab}: the tokenizer does not "
            "belong to this model"
        )
    return ids.long()


@torch.inference_mode()
def prefill(model: nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, object]:
    """Return the next-token logits after reading ``ids`` and the KV cache that holds them."""
    out = model(ids, use_cache=True)
    return out.logits[:, -1], out.cache


@torch.inference_mode()
def greedy(model: nn.Module, ids: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Return the ``new_tokens`` token ids greedy decoding appends to ``ids`` (a 1-D tensor)."""
    ids = check_ids(model, ids, new_tokens)
    logits, cache = prefill(model, ids)
    tokens = [logits.argmax(-1)]
    for _ in range(new_tokens - 1):
        out = model(tokens[-1][:, None], cache=cache, use_cache=True)
        tokens.append(out.logits[:, -1].argmax(-1))
    return torch.cat(tokens)[:new_tokens]


@torch.inference_mode()
def time_generation(model: nn.Module, ids: torch.Tensor, new_tokens: int) -> tuple[Timing, Timing]:
    """Return (prefill timing of the whole prompt, per-token decode timing) of one greedy generation."""
    ids = check_ids(model, ids, new_tokens)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        logits, cache = prefill(model, ids)
        token = logits.argmax(-1)
        first = (time.perf_counter() - start) * 1e3
        steps = []
        for _ in range(new_tokens - 1):
            start = time.perf_counter()
            token = model(token[:, None], cache=cache, use_cache=True).logits[:, -1].argmax(-1)
            steps.append((time.perf_counter() - start) * 1e3)
    finally:
        if gc_was_enabled:
            gc.enable()
    threads = torch.get_num_threads()
    return Timing([first], 0, threads, 1), Timing(steps or [math.nan], 1, threads, 1)


def interleaved_generation(
    models: Mapping[str, nn.Module], ids: torch.Tensor, new_tokens: int, rounds: int = ROUNDS
) -> dict[str, tuple[Timing, Timing]]:
    """Time greedy generation of each model in turns and keep each model's best round (the one timing rule)."""
    if new_tokens < 2:
        raise ValueError(f"new_tokens must be >= 2 to time decoding, got {new_tokens}")
    best: dict[str, tuple[Timing, Timing]] = {}
    busy0, own0 = cpu_seconds()
    start = time.perf_counter()
    for _ in range(rounds):
        for name, model in models.items():
            pre, dec = time_generation(model, ids, new_tokens)
            if name not in best or dec.p50 < best[name][1].p50:
                best[name] = (pre, dec)
    busy1, own1 = cpu_seconds()
    foreign = foreign_cores(busy1 - busy0, own1 - own0, time.perf_counter() - start)
    for pair in best.values():
        for t in pair:
            t.rounds, t.foreign_cores = rounds, foreign
    return best


@torch.inference_mode()
def token_losses(model: nn.Module, ids: torch.Tensor, window: int | None = None) -> torch.Tensor:
    """Return the loss (-log p) of each token of ``ids`` after the first, reading consecutive windows (default 256)."""
    ids = check_ids(model, ids)
    window = min(256, context_length(model)) if window is None else window
    if window < 2 or window > context_length(model):
        raise ValueError(f"window must be between 2 and the context ({context_length(model)}), got {window}")
    losses = []
    for start in range(0, ids.shape[1] - 1, window):
        chunk = ids[:, start : start + window]
        if chunk.shape[1] < 2:
            break
        logits = model(chunk, use_cache=False).logits[:, :-1].float()
        losses.append(torch.nn.functional.cross_entropy(logits[0], chunk[0, 1:], reduction="none"))
    return torch.cat(losses)


def perplexity(model: nn.Module, ids: torch.Tensor, window: int | None = None) -> float:
    """Return exp(mean next-token loss) over ``ids`` (the first token of each window is only read, not scored)."""
    return math.exp(float(token_losses(model, ids, window).mean()))


def weight_bytes(model: nn.Module) -> int:
    """Return the bytes of the model's weights in memory (shared tensors, like tied embeddings, counted once)."""
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.device.type != "meta" and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


def kv_bytes_per_token(model: nn.Module, dtype: torch.dtype = torch.float32) -> int:
    """Return the KV-cache bytes one token adds: keys and values, in every layer, for every KV head."""
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    return 2 * c.num_hidden_layers * c.num_key_value_heads * head_dim * torch.empty(0, dtype=dtype).element_size()


def file_bytes(model: nn.Module) -> int:
    """Return the bytes of ``torch.save(state_dict)`` written to a temporary file (not held in memory)."""
    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "model.pt")
        torch.save(model.state_dict(), file)
        return os.path.getsize(file)


def measure_lm(
    models: Mapping[str, nn.Module],
    prompt: torch.Tensor,
    text: torch.Tensor | None = None,
    new_tokens: int = 32,
    energy: bool = True,
    rounds: int = ROUNDS,
) -> Report:
    """Return a Report of each model's size, memory, perplexity on ``text``, speed and energy per token."""
    if not models:
        raise ValueError("models is empty: pass a dict of name -> model, e.g. {'fp32': model}")
    report = Report()
    for name, model in models.items():
        check_ids(model, prompt, new_tokens)
        report.add(name, "file_size", file_bytes(model), "bytes", "torch.save(state_dict) bytes written to a file")
        report.add(name, "weights_memory", weight_bytes(model), "bytes", "bytes of parameters and buffers in memory")
        kv = kv_bytes_per_token(model)
        report.add(name, "kv_cache_per_token", kv, "bytes", "2 x layers x KV heads x head size x 4 B (fp32 cache)")
        context = prompt.shape[-1] + new_tokens
        report.add(name, "kv_cache", kv * context, "bytes", f"KV cache at {context} tokens (prompt + generated)")
        if text is not None:
            report.add(name, "perplexity", perplexity(model, text), "", f"exp(mean loss), {text.shape[-1]} tokens")
    for name, (pre, dec) in interleaved_generation(models, prompt, new_tokens, rounds).items():
        add_timing(report, name, pre, "time_to_first_token")
        rate = prompt.shape[-1] / pre.p50 * 1e3
        report.add(name, "prefill_tokens_per_s", rate, "tokens/s", pre.method, None, pre.note)
        add_timing(report, name, dec, "decode_latency_per_token")
        report.add(name, "decode_tokens_per_s", 1e3 / dec.p50, "tokens/s", dec.method, None, dec.note)
    if energy:
        calls = {name: (lambda m=model: greedy(m, prompt, new_tokens)) for name, model in models.items()}
        for row in measure_energy(calls, progress=False):
            if row["metric"].startswith(("energy", "co2e")):
                per_token = row["metric"].replace("per_inference", "per_token")
                spread = row.get("spread", 0.0) / new_tokens
                method = f"{row['method']}; one greedy generation of {new_tokens} tokens per call, / {new_tokens}"
                value = row["value"] / new_tokens
                report.add(row["model"], per_token, value, row["unit"], method, spread, row.get("note"))
    return report

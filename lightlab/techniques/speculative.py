"""Speculative decoding: a cheap drafter guesses the next few tokens, the big model checks them all in one pass.

Decoding one token costs the big model a full read of its weights; checking ``k`` guessed tokens costs about the
same, because reading the weights, not the arithmetic, is what takes the time. Every guess the big model agrees
with is a token for free; at the first disagreement the big model's own token is kept. So the output is exactly
the big model's greedy output, whatever the drafter proposes: only the speed depends on the drafter.

Two drafters: a small model (here the same SmolLM2 with 4-bit weights), or *prompt lookup*, which copies what
followed the last few tokens when they appeared earlier in the context (free, and good at quoting the prompt).
It is notebook 22's cascade for language models: the small model answers, the big one only checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lightlab import config
from lightlab.measurement import measure
from lightlab.measurement.generation import check_ids, greedy, prefill
from lightlab.measurement.report import Report


@dataclass(frozen=True)
class SpecConfig:
    """``draft_tokens`` guessed per round; ``ngram``: the longest context suffix prompt lookup matches."""

    draft_tokens: int = 4
    ngram: int = 3

    def __post_init__(self):
        if not isinstance(self.draft_tokens, int) or not 1 <= self.draft_tokens <= 16:
            raise ValueError(f"draft_tokens must be a whole number from 1 to 16, got {self.draft_tokens!r}")
        if not isinstance(self.ngram, int) or self.ngram < 1:
            raise ValueError(f"ngram must be a positive whole number, got {self.ngram!r}")


@dataclass
class SpecResult:
    """The generated tokens and how the guessing went."""

    tokens: torch.Tensor
    proposed: int
    accepted: int
    rounds: int

    @property
    def acceptance_rate(self) -> float:
        """Return the share of guessed tokens the big model agreed with."""
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def tokens_per_round(self) -> float:
        """Return the tokens gained per pass of the big model, its first pass over the prompt included (1.0 without
        speculation)."""
        return len(self.tokens) / (self.rounds + 1)


def lookup(context: list[int], ngram: int, k: int) -> list[int]:
    """Return up to ``k`` tokens that followed the latest earlier occurrence of the context's last n-gram."""
    for n in range(min(ngram, len(context) - 1), 0, -1):
        suffix = context[-n:]
        for start in range(len(context) - n - 1, -1, -1):
            if context[start : start + n] == suffix:
                return context[start + n : start + n + k]
    return []


def _crop(cache, length: int) -> None:
    """Drop the cached keys and values past ``length`` tokens (the rejected guesses)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


class _Drafter:
    """A draft model with its own KV cache, kept in step with the accepted context."""

    def __init__(self, model: nn.Module, ids: torch.Tensor):
        self.model = model
        _, self.cache = prefill(model, ids[:, :-1]) if ids.shape[1] > 1 else (None, None)
        self.length = ids.shape[1] - 1  # tokens of the context held in the cache

    def propose(self, context: list[int], k: int) -> list[int]:
        x, proposal = torch.tensor([context[self.length :]]), []
        for _ in range(k):
            out = self.model(x, cache=self.cache, use_cache=True)
            self.cache = out.cache
            proposal.append(int(out.logits[0, -1].argmax()))
            x = torch.tensor([proposal[-1:]])
        self.length = len(context) + k - 1
        return proposal

    def keep(self, length: int) -> None:
        self.length = min(self.length, length)
        _crop(self.cache, self.length)


@torch.inference_mode()
def speculative_greedy(
    target: nn.Module, draft: nn.Module | None, ids: torch.Tensor, new_tokens: int, cfg: SpecConfig | None = None
) -> SpecResult:
    """Return the ``target``'s greedy continuation of ``ids``, drafted by ``draft`` (None: prompt lookup)."""
    cfg = cfg or SpecConfig()
    ids = check_ids(target, ids, new_tokens + cfg.draft_tokens)
    if ids.shape[0] != 1:
        raise ValueError(f"speculative decoding here is for one sequence (batch 1), got a batch of {ids.shape[0]}")
    if draft is not None and draft.config.vocab_size != target.config.vocab_size:
        raise ValueError("the draft and target models use different vocabularies: a draft must share the tokenizer")
    logits, cache = prefill(target, ids)
    context = ids[0].tolist() + [int(logits.argmax())]
    drafter = _Drafter(draft, torch.tensor([context])) if draft is not None else None
    proposed = accepted = rounds = 0
    while len(context) - ids.shape[1] < new_tokens:
        k = cfg.draft_tokens
        guess = drafter.propose(context, k) if drafter else lookup(context, cfg.ngram, k)
        # One pass of the target over the last token and the guesses: its own choice after each prefix.
        out = target(torch.tensor([context[-1:] + guess]), cache=cache, use_cache=True)
        choice = out.logits[0].argmax(-1).tolist()
        n = 0
        while n < len(guess) and guess[n] == choice[n]:
            n += 1
        held = len(context) + n  # the context and the accepted guesses are now in the target's cache
        context += guess[:n] + [choice[n]]
        cache = out.cache
        _crop(cache, held)
        if drafter:
            drafter.keep(held)
        proposed, accepted, rounds = proposed + len(guess), accepted + n, rounds + 1
    tokens = torch.tensor(context[ids.shape[1] : ids.shape[1] + new_tokens])
    return SpecResult(tokens, proposed, accepted, rounds)


def compare_speculative(
    target: nn.Module,
    drafts: dict[str, nn.Module | None],
    ids: torch.Tensor,
    new_tokens: int = 32,
    cfg: SpecConfig | None = None,
    repeats: int = 2,
    rounds: int | None = None,
) -> Report:
    """Return a Report: generation speed of plain greedy vs each drafter, acceptance, and whether outputs match.

    Every generation runs once untimed (its acceptance and output are read there), so the timing needs no warm-up;
    ``rounds`` alternating rounds (``measure.ROUNDS``, two in quick mode) of ``repeats`` generations each follow.
    """
    cfg = cfg or SpecConfig()
    rounds = config.pick(measure.ROUNDS, 2) if rounds is None else rounds
    reference = greedy(target, ids, new_tokens)
    runs = {"greedy": measure.Call(lambda x: greedy(target, x, new_tokens))}
    report = Report()
    for name, draft in drafts.items():
        result = speculative_greedy(target, draft, ids, new_tokens, cfg)
        how = f"{new_tokens} tokens, {cfg.draft_tokens} guessed per round"
        report.add(name, "acceptance_rate", 100 * result.acceptance_rate, "%", f"accepted / guessed tokens, {how}")
        report.add(name, "tokens_per_pass", result.tokens_per_round, "", f"tokens per pass of the target, {how}")
        same = bool(torch.equal(result.tokens, reference))
        report.add(name, "identical_to_greedy", float(same), "", "token-for-token equal to the target's greedy output")
        runs[name] = measure.Call(lambda x, d=draft: speculative_greedy(target, d, x, new_tokens, cfg))
    timings = measure.interleaved(runs, ids, rounds=rounds, repeats=repeats, warmup=0)
    for name, t in timings.items():
        rate = new_tokens / t.p50 * 1e3
        report.add(name, "generation_tokens_per_s", rate, "tokens/s", f"{new_tokens} tokens incl. prefill; {t.method}",
                   None, t.note)  # fmt: skip
    return report

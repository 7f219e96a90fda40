"""Checkers for notebook 32 (speculative decoding)."""

from __future__ import annotations

import math
from collections.abc import Callable

from lightlab.face.checks.base import fail, number
from lightlab.techniques.speculative import lookup

# (guesses, the target's choice after each prefix of them: one more than the guesses), and what each case catches.
_ROUNDS = [
    (
        [5, 8, 2, 9, 6],
        [5, 8, 3, 9, 6, 1],
        "a guess agreeing AFTER a disagreement does not count: stop at the first one",
    ),
    ([4, 4, 1], [4, 4, 1, 6], "when every guess agrees, the answer is the number of guesses"),
    ([7, 1], [2, 1, 3], "the first guess already disagrees: nothing is accepted, even if a later guess agrees"),
    ([], [3], "no guesses (prompt lookup found nothing): nothing is accepted"),
]


def _leading(proposed: list[int], choice: list[int], shift: int = 0) -> int:
    n = 0
    while n < len(proposed) and n + shift < len(choice) and proposed[n] == choice[n + shift]:
        n += 1
    return n


def accept_count(fn: Callable) -> str:
    """Check ``fn(proposed, target_choice)`` returns how many leading guesses agree with the target's choices."""
    for proposed, choice, case_hint in _ROUNDS:
        what = f"accept_count(proposed={proposed}, target_choice={choice})"
        expected = _leading(proposed, choice)
        got = fn(list(proposed), list(choice))
        if got is None:
            fail(what, got, expected, "your function must `return` a whole number")
        if got == expected:
            continue
        matches = sum(p == c for p, c in zip(proposed, choice, strict=False))
        if got == expected + 1:
            hint = (
                "you count the target's own token too (the tokens a round gains are accepted + 1); return only "
                "the accepted guesses"
            )
        elif got == matches:
            hint = "you count every position where the two agree; count only the LEADING agreements"
        elif got == _leading(proposed, choice, shift=1):
            hint = "target_choice[i] is the target's token at the place of guess i: compare proposed[i] with it"
        else:
            hint = case_hint
        fail(what, got, expected, hint)
    return "correct: accept_count works"


def _expected(alpha: float, k: int) -> float:
    return k + 1 if alpha == 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


def expected_tokens(fn: Callable) -> str:
    """Check ``fn(alpha, k)`` gives the expected tokens per pass of the target, (1 - alpha^(k+1)) / (1 - alpha)."""
    alpha, k = 0.8, 4
    expected = _expected(alpha, k)
    mistakes = {
        _expected(alpha, k - 1): "a round gains up to k + 1 tokens (k guesses and the target's own): the power is "
        "k + 1, not k",
        expected - 1: "you count only the accepted guesses: the target always adds its own token as well",
        1 + k * alpha: "guess i is kept only if all guesses before it were kept too: its chance is alpha^i, not alpha",
        alpha * k: "guess i is kept only if all guesses before it were kept too (chance alpha^i); and the target "
        "adds one token of its own",
        (1 - alpha ** (k + 1)) / alpha: "divide by (1 - alpha), the sum of a geometric series",
    }
    result = number(
        "expected_tokens",
        f"expected_tokens(alpha={alpha}, k={k})",
        fn(alpha, k),
        expected,
        mistakes,
        "sum the chances of each token: 1 (the target's own) + alpha + alpha^2 + ... + alpha^k, which is "
        "(1 - alpha^(k+1)) / (1 - alpha)",
        "the expected number of tokens as a float",
    )
    for edge_alpha, edge_k, why in (
        (0.0, 4, "a draft that is never right still lets the target add its own token: 1 token per pass"),
        (1.0, 4, "a draft that is always right gives all k guesses plus the target's token: k + 1 (the formula "
         "divides 0 by 0 there; return its limit)"),
    ):  # fmt: skip
        what = f"expected_tokens(alpha={edge_alpha}, k={edge_k})"
        want = _expected(edge_alpha, edge_k)
        try:
            got = fn(edge_alpha, edge_k)
        except ZeroDivisionError:
            fail(what, "ZeroDivisionError", want, why)
        if got is None or not math.isclose(float(got), want, rel_tol=1e-6):
            fail(what, got, want, why)
    return result


# (context, ngram, k, what a wrong answer on this case usually means)
_LOOKUPS = [
    ([1, 2, 3, 4, 5, 9, 2, 3], 2, 3, "find the last `ngram` tokens earlier in the context and copy the k after them"),
    ([7, 8, 1, 7, 8, 2, 7, 8], 2, 2, "the n-gram occurs twice earlier: copy after the LATEST occurrence"),
    ([5, 6, 1, 9, 6, 2, 5, 6], 2, 3, "try the longest suffix first (ngram tokens): a 2-gram match beats a 1-gram one"),
    ([1, 2, 3, 4, 3], 3, 2, "no 3-gram or 2-gram occurs earlier: fall back to shorter n-grams, down to 1"),
    ([1, 2, 3], 3, 2, "nothing matches: return an empty list"),
    ([4, 5, 6, 4, 5], 2, 4, "copy what is there: fewer than k tokens when the context ends"),
    ([3, 3], 3, 2, "an n-gram longer than the context has no earlier occurrence: start at len(context) - 1 tokens"),
]


def prompt_lookup(fn: Callable) -> str:
    """Check ``fn(context, ngram, k)`` copies what followed the latest earlier occurrence of the context's suffix."""
    for context, ngram, k, hint in _LOOKUPS:
        what = f"prompt_lookup(context={context}, ngram={ngram}, k={k})"
        expected = lookup(list(context), ngram, k)
        got = fn(list(context), ngram, k)
        if got is None:
            fail(what, got, expected, "your function must `return` a list of token ids")
        got = [int(t) for t in got]
        if got == expected:
            continue
        if not got and expected:
            hint = (
                "the suffix itself is not an EARLIER occurrence: search only starts that end before the last "
                "token. " + hint
            )
        fail(what, got, expected, hint)
    return "correct: prompt_lookup works"

import pytest
from _solutions import load as solutions

import lightlab as ll
from lightlab.face.views import speculative as views


def test_solutions_pass_the_checkers():
    sol = solutions("32_speculative_decoding")
    assert ll.checks.accept_count(sol.accept_count).startswith("correct")
    assert ll.checks.expected_tokens(sol.expected_tokens).startswith("correct")
    assert ll.checks.expected_tokens(views.expected_tokens).startswith("correct")
    assert ll.checks.prompt_lookup(sol.prompt_lookup).startswith("correct")
    assert ll.checks.prompt_lookup(ll.speculative.lookup).startswith("correct")


def test_typical_accept_count_mistakes_get_their_hint():
    def leading(shift=0, extra=0):
        def fn(proposed, choice):
            n = 0
            while n < len(proposed) and n + shift < len(choice) and proposed[n] == choice[n + shift]:
                n += 1
            return n + extra

        return fn

    mistakes = {
        "target's own token too": leading(extra=1),
        "LEADING agreements": lambda p, c: sum(a == b for a, b in zip(p, c, strict=False)),
        "compare proposed\\[i\\] with it": leading(shift=1),
        "must `return`": lambda p, c: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.accept_count(wrong)


def test_typical_formula_mistakes_get_their_hint():
    mistakes = {
        "the power is k \\+ 1": lambda a, k: (1 - a**k) / (1 - a),
        "only the accepted guesses": lambda a, k: (1 - a ** (k + 1)) / (1 - a) - 1,
        "its chance is alpha\\^i": lambda a, k: 1 + k * a,
        "return its limit": lambda a, k: (1 - a ** (k + 1)) / (1 - a),  # divides by zero at alpha = 1
        "never right": lambda a, k: (1 - a ** (k + 1)) / (1 - a) if a > 0 else 0.0,
        "must `return`": lambda a, k: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.expected_tokens(wrong)


def test_typical_lookup_mistakes_get_their_hint():
    def search(earliest=False, longest_only=False, with_itself=False, shortest_first=False):
        def fn(context, ngram, k):
            sizes = list(range(min(ngram, len(context) - 1), 0, -1))
            sizes = sizes[:1] if longest_only else sizes[::-1] if shortest_first else sizes
            for n in sizes:
                suffix = context[-n:]
                starts = range(len(context) - n - (0 if with_itself else 1), -1, -1)
                for start in reversed(starts) if earliest else starts:
                    if context[start : start + n] == suffix:
                        return context[start + n : start + n + k]
            return []

        return fn

    mistakes = {
        "not an EARLIER occurrence": search(with_itself=True),
        "LATEST occurrence": search(earliest=True),
        "fall back to shorter n-grams": search(longest_only=True),
        "longest suffix first": search(shortest_first=True),
        "must `return`": lambda c, n, k: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.prompt_lookup(wrong)

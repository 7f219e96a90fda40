"""Solutions to the exercises of notebook 32 (kept apart from the notebook; tested in tests/test_solutions_32.py)."""


def accept_count(proposed: list[int], target_choice: list[int]) -> int:
    """Exercise 1: how many guesses, from the first on, agree with the target's choice at their place."""
    n = 0
    while n < len(proposed) and proposed[n] == target_choice[n]:
        n += 1
    return n


def expected_tokens(alpha: float, k: int) -> float:
    """Exercise 2: 1 + alpha + ... + alpha^k tokens per pass of the target (guess i survives with chance alpha^i)."""
    if alpha == 1:
        return float(k + 1)  # the limit of the geometric sum: every guess accepted, plus the target's own token
    return (1 - alpha ** (k + 1)) / (1 - alpha)


def prompt_lookup(context: list[int], ngram: int, k: int) -> list[int]:
    """Exercise 3: the k tokens after the latest earlier occurrence of the context's last n tokens, longest n first."""
    for n in range(min(ngram, len(context) - 1), 0, -1):
        suffix = context[-n:]
        for start in range(len(context) - n - 1, -1, -1):  # ends before the suffix itself: an EARLIER occurrence
            if context[start : start + n] == suffix:
                return context[start + n : start + n + k]
    return []

"""What every checker shares: the exception it raises and how it words a failure."""

from __future__ import annotations


class CheckFailed(AssertionError):
    """A learner's answer is not right yet; the message says what was expected and gives a hint."""


def fail(what: str, got: object, expected: object, hint: str) -> None:
    """Raise CheckFailed saying what was called, what came back, what was expected, and a hint."""
    raise CheckFailed(f"{what}: got {got!r}, expected {expected!r}.\nHint: {hint}")

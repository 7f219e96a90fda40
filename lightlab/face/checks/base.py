"""What every checker shares: the exception it raises and how it words a failure."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping


class CheckFailed(AssertionError):
    """A learner's answer is not right yet; the message says what was expected and gives a hint."""

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a traceback: a short "not yet" a learner can act on, not a wall of red.
        return [f"Not yet. {self}"]


def guarded(check: Callable[..., str]) -> Callable[..., str]:
    """Return ``check`` turning an unsolved exercise (its stub raises NotImplementedError) into a short CheckFailed."""

    @functools.wraps(check)
    def run(*args, **kwargs) -> str:
        try:
            return check(*args, **kwargs)
        except NotImplementedError as err:
            raise CheckFailed(f"{err}. Fill in the function, run its cell, then run the check again.") from None

    return run


def fail(what: str, got: object, expected: object, hint: str) -> None:
    """Raise CheckFailed saying what was called, what came back, what was expected, and a hint."""
    raise CheckFailed(f"{what}: got {got!r}, expected {expected!r}.\nHint: {hint}")


def number(
    name: str,
    what: str,
    got: object,
    expected: float,
    mistakes: Mapping[float, str],
    hint: str,
    returns: str,
    digits: int = 3,
) -> str:
    """Return "correct: NAME works" when ``got`` is ``expected``, else raise with a known mistake's hint or ``hint``.

    ``mistakes`` maps the value a typical slip gives to the hint that explains it.
    """
    if got is None:
        fail(what, got, round(expected, 3), f"your function must `return` {returns}")
    got = float(got)
    if math.isclose(got, expected, rel_tol=1e-6):
        return f"correct: {name} works"
    for value, why in mistakes.items():
        if math.isclose(got, value, rel_tol=1e-6):
            fail(what, round(got, digits), round(expected, 3), why)
    fail(what, round(got, digits), round(expected, 3), hint)

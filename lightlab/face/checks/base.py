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


def prediction(
    guess: object, measured: float, what: str, unit: str, why: str, close: float = 0.25, within: float | None = None
) -> str:
    """Return how a learner's guess compares with the measured value, and why the value is what it is.

    A "predict, then run" prompt is checked for an answer, not graded: no guess (None) gets the measurement with a
    nudge to predict first, so "Run all" still runs; a guess that is not a number raises CheckFailed; a guess within
    ``close`` (relative) of the measurement, or ``within`` (absolute, in ``unit``) when given, is "close".
    """
    if guess is None:
        return f"no prediction written: measured {measured:.3g} {unit}. Next time, guess first: it sticks better. {why}"
    if isinstance(guess, bool) or not isinstance(guess, int | float) or not math.isfinite(guess):
        raise CheckFailed(
            f"your prediction of {what} must be a number in {unit} (e.g. `my_guess = 2.0`); got {guess!r}"
        )
    near = abs(guess - measured) <= within if within is not None else abs(guess - measured) <= close * abs(measured)
    verdict = "close" if near else ("too high" if guess > measured else "too low")
    return f"your guess {guess:g} {unit}, measured {measured:.3g} {unit}: {verdict}. {why}"

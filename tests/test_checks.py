import numpy as np
import pytest
from _solutions import load as solutions

import lightlab as ll


def test_solutions_pass_the_checkers():
    sol = solutions("00_start_here")
    assert ll.checks.speedup(sol.speedup).startswith("correct")
    assert ll.checks.per_million(sol.per_million).startswith("correct")
    assert ll.checks.disagreements(sol.disagreements).startswith("correct")


def test_wrong_answers_get_a_hint():
    with pytest.raises(ll.checks.CheckFailed, match="wrong way round"):
        ll.checks.speedup(
            lambda r, fast, slow, b: r.value(fast, f"latency_p50_b{b}") / r.value(slow, f"latency_p50_b{b}")
        )
    with pytest.raises(ll.checks.CheckFailed, match="must `return`"):
        ll.checks.speedup(lambda r, fast, slow, b: None)
    with pytest.raises(ll.checks.CheckFailed, match="batch"):
        ll.checks.speedup(lambda r, fast, slow, b: r.value(slow, "latency_p50_b64") / r.value(fast, "latency_p50_b64"))
    with pytest.raises(ll.checks.CheckFailed, match="3.6e6"):
        ll.checks.per_million(lambda j: j * 1e6)
    swapped = solutions("00_start_here").disagreements
    with pytest.raises(ll.checks.CheckFailed, match="swapped"):
        ll.checks.disagreements(lambda y, a, b: swapped(y, a, b)[::-1])

    def right(pred, y):
        return np.asarray(pred) == np.asarray(y)

    with pytest.raises(ll.checks.CheckFailed, match="every input each model got right"):
        ll.checks.disagreements(lambda y, a, b: (right(a, y).sum(), right(b, y).sum()))
    with pytest.raises(ll.checks.CheckFailed, match="exactly one model is right"):  # answers differ, A right or not
        ll.checks.disagreements(
            lambda y, a, b: ((right(a, y) & ~right(a, b)).sum(), (~right(a, y) & ~right(a, b)).sum())
        )
    with pytest.raises(ll.checks.CheckFailed, match="net result"):
        ll.checks.disagreements(
            lambda y, a, b: (right(a, y).sum() - right(b, y).sum(), right(b, y).sum() - right(a, y).sum())
        )


def test_exercise_6_target_is_reachable(digits):
    model = solutions("00_start_here").own_small_model(digits)
    assert ll.measure.count_params(model) <= 1500
    assert ll.train.evaluate(model, digits) >= 0.95


def test_an_unsolved_exercise_says_not_yet_in_one_line():
    def stub(report, fast, slow, batch):
        raise NotImplementedError("write speedup() first")

    with pytest.raises(ll.checks.CheckFailed, match="write speedup\\(\\) first. Fill in the function") as info:
        ll.checks.speedup(stub)
    assert info.value._render_traceback_() == [f"Not yet. {info.value}"]


def test_only_checkers_are_found():
    with pytest.raises(AttributeError, match="no checker named 'Callable'"):
        ll.checks.Callable  # noqa: B018

import numpy as np
import pandas as pd
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


def test_a_prediction_is_checked_for_an_answer_not_graded():
    from lightlab.face.checks.base import prediction

    assert prediction(2.0, 2.2, "the speed-up", "x", "Because...").startswith("your guess 2 x, measured 2.2 x: close.")
    assert "too high" in prediction(10, 2.0, "the speed-up", "x", "")
    assert "too low" in prediction(0.5, 2.0, "the speed-up", "x", "")
    assert prediction(None, 2.0, "the speed-up", "x", "Because.").startswith("no prediction written: measured 2 x.")
    for wrong in ("fast", float("nan"), True):
        with pytest.raises(ll.checks.CheckFailed, match="your prediction of the speed-up must be a number in x"):
            prediction(wrong, 2.0, "the speed-up", "x", "")


def test_the_notebooks_prediction_checks_explain_the_measurement(digits):
    report = ll.Report().add("student, KD", "KD gain, 10% labels", 4.0, "points", "m", interval=(2.0, 6.0))
    assert "interval is +2.0 .. +6.0 points" in ll.checks.kd_gain_prediction(4.5, report)
    sizes = ll.Report().add("fp32", "size", 4.5e6, "bytes", "m").add("coded", "size", 5e4, "bytes", "m")
    sizes.add("pruned", "size", 4.5e5, "bytes", "m")
    assert ll.checks.compression_prediction(10, sizes).startswith("your guess 10 x, measured 90 x: too low")
    costs = pd.DataFrame({"latency_ms": [0.01, 0.012, 0.05, 0.2]})
    assert "2 of the 4 candidates fit" in ll.checks.budget_prediction(2, costs, 0.013)


def test_the_blocks_and_cascade_prediction_checks():
    blocks = ll.Report()
    for name, macs, ms in (("conv", 8e7, 3.0), ("dwsep", 1e7, 1.2)):
        blocks.add(name, "macs", macs, "count", "m").add(name, "latency_p50_b1", ms, "ms", "m")
    message = ll.checks.blocks_prediction(8, blocks)
    assert message.startswith("your guess 8 x, measured 2.5 x: too high") and "MACs alone predict 8.0x" in message
    blocks.rows[-1]["note"] = "disturbed: other processes used 1.0 cores"
    assert ll.checks.blocks_prediction(8, blocks).startswith("not measurable now")
    report = ll.Report().add("cloud only (large)", "accuracy", 98.33, "%", "m")
    report.add("cascade (threshold 0.96)", "accuracy", 98.06, "%", "m")
    right_large = np.ones(360, bool)
    right_cascade = right_large.copy()
    right_cascade[0] = False
    test = ll.stats.mcnemar_correct(right_cascade, right_large, ("cascade", "large"))
    message = ll.checks.cascade_prediction(0.5, report, test)
    assert message.startswith("your guess 0.5 points, measured 0.27 points: close")
    assert "on 1 of 360 test images" in message and "no detectable difference at n = 360" in message

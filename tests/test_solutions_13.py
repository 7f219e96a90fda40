import math

import numpy as np
import pytest
from _solutions import load as solutions

import lightlab as ll
import lightlab.face.checks.industrial as checks


@pytest.fixture(scope="module")
def sol():
    return solutions("13_industrial")


@pytest.fixture(scope="module")
def task():
    return ll.load("shuttle")


def test_solutions_pass_the_checkers_and_mistakes_get_a_hint(sol):
    assert checks.false_alarms_per_day(sol.false_alarms_per_day).startswith("correct")
    assert checks.pick_threshold(sol.pick_threshold).startswith("correct")
    mistakes = {
        "multiply by \\(1 - specificity\\)": lambda s, r, n: s * n * r * 86_400,
        "normal_share too": lambda s, r, n: (1 - s) * r * 86_400,
        "per hour": lambda s, r, n: (1 - s) * n * r * 3_600,
        "must `return`": lambda s, r, n: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            checks.false_alarms_per_day(wrong)

    def kth_itself(labels, scores, target):  # forgets that alarms need score > threshold, strictly
        return float(np.sort(scores[labels == 1])[::-1][math.ceil(target * labels.sum()) - 1])

    def quantile_of_all(labels, scores, target):  # a quantile of every score, not of the anomalies'
        return float(np.quantile(scores, 0.0))

    with pytest.raises(ll.checks.CheckFailed, match="strictly"):
        checks.pick_threshold(kth_itself)
    with pytest.raises(ll.checks.CheckFailed, match="false alarms where"):
        checks.pick_threshold(quantile_of_all)


def test_exercise_3_target_is_reachable(sol, task):
    result = sol.exercise_3(task, ll.zoo.pretrained("shuttle-small"))
    assert result["sensitivity"] >= 0.995 and result["false_alarms_per_day"] <= 50


def test_exercise_4_target_is_reachable(sol, task):
    report = sol.exercise_4(task)
    assert report.value("tiny", "params") <= 100
    assert report.ratio("balanced_accuracy", "tiny", "shuttle-large") >= 0.99

import numpy as np
import pytest
import torch
from _solutions import load as solutions

import lightlab as ll
from lightlab.applications import screening
from lightlab.face.checks import healthcare as checks


@pytest.fixture(scope="module")
def task():
    return ll.load("ecg")


def test_screening_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("12_healthcare")
    assert checks.screening(sol.screening).startswith("correct")
    assert checks.screening(lambda cm: tuple(screening.screening_rates(cm)[k] for k in ("sensitivity", "specificity")))
    mistakes = {
        "swapped": lambda cm: sol.screening(cm)[::-1],
        "ANY arrhythmia": lambda cm: (np.trace(cm[1:, 1:]) / cm[1:].sum(), cm[0, 0] / cm[0].sum()),
        "must `return`": lambda cm: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            checks.screening(wrong)


def test_battery_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("12_healthcare")
    assert checks.battery_days(sol.battery_days).startswith("correct")
    assert checks.battery_days(lambda j, mah, v, n: screening.battery_life_days(j, mah, v, n)).startswith("correct")
    with pytest.raises(ll.checks.CheckFailed, match="3.6"):
        checks.battery_days(lambda j, mah, v, n: mah * v / (j * n))
    with pytest.raises(ll.checks.CheckFailed, match="volts"):
        checks.battery_days(lambda j, mah, v, n: mah * 3.6 / (j * n))


def test_exercise_3_target_is_reachable(task):
    result = solutions("12_healthcare").exercise_3(task, ll.zoo.pretrained("ecg-small"))
    assert result["sensitivity"] >= 0.93
    assert result["false_alarms_per_day"] < result["argmax_false_alarms_per_day"]


@pytest.fixture
def one_thread():
    # A 2.5 k-parameter model trains several times faster on one thread than on two that wait for each other.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_exercise_4_target_is_reachable(task, one_thread):
    sol = solutions("12_healthcare")
    assert 2 * ll.measure.count_params(sol.smaller_student()) <= ll.measure.count_params(ll.zoo.create("ecg-small"))
    report = sol.exercise_4(task, ll.zoo.pretrained("ecg-large"))
    assert report.value("student", "balanced_accuracy") >= 0.95 * report.value("large", "balanced_accuracy")

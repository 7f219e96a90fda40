import pytest
from _solutions import load as solutions

import lightlab as ll


def test_dwsep_params_solution_passes_the_checker():
    assert ll.checks.dwsep_params(solutions("20_efficient_architectures").dwsep_params).startswith("correct")


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda i, o, k: k * k * i + 2 * i, "left out the pointwise part"),
        (lambda i, o, k: k * k * i * o + 2 * o, "that is a standard conv"),
        (lambda i, o, k: k * k * i * o + i * o + 2 * (i + o), "one k x k filter per input channel"),
        (lambda i, o, k: k * k * i + i * o, "forgot the BatchNorms"),
        (lambda i, o, k: k * k * i + i * o + i + o, "TWO parameters per channel"),
        (lambda i, o, k: k * k * i + i * o + 3 * (i + o), "bias=False"),
        (lambda i, o, k: k * k * o + i * o + 4 * o, "depthwise conv works on the INPUT channels"),
        (lambda i, o, k: None, "must `return`"),
        (lambda i, o, k: 1, r"params = k\*k\*in_ch"),
    ],
)
def test_dwsep_params_mistakes_get_their_hint(wrong, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.dwsep_params(wrong)


@pytest.mark.slow
def test_exercise_3_target_is_reachable(digits):
    report = solutions("20_efficient_architectures").exercise_3(digits)
    assert report.value("efficient CNN", "params") <= report.value("standard CNN", "params") / 4
    assert report.value("efficient CNN", "accuracy") >= report.value("standard CNN", "accuracy") - 2

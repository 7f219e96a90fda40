import pandas as pd
import pytest
from _solutions import load as solutions

import lightlab as ll
from lightlab.techniques import nas


def test_pareto_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("21_nas")
    assert ll.checks.pareto_front(sol.pareto_front).startswith("correct")
    # the library's own front agrees with the checker
    points = pd.DataFrame(ll.checks.nas.POINTS, columns=["val_accuracy", "latency_ms"])
    assert nas.pareto(points, minimize=("latency_ms",)).index.tolist() == ll.checks.nas.FRONT

    def front(points, better):
        return [i for i, p in enumerate(points) if not any(better(q, p, j, i) for j, q in enumerate(points))]

    mistakes = {
        "strictly better in both": lambda P: front(P, lambda q, p, j, i: q[0] > p[0] and q[1] < p[1]),
        "identical": lambda P: front(P, lambda q, p, j, i: j != i and q[0] >= p[0] and q[1] <= p[1]),
        "most accurate": lambda P: [i for i, p in enumerate(P) if p[0] == max(q[0] for q in P)],
        "maximised latency": lambda P: front(P, lambda q, p, j, i: q[0] >= p[0] and q[1] >= p[1] and q != p),
        "must `return`": lambda P: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.pareto_front(wrong)
    # a boolean mask is accepted as well as indices
    mask = [i in ll.checks.nas.FRONT for i in range(len(ll.checks.nas.POINTS))]
    assert ll.checks.pareto_front(lambda P: mask).startswith("correct")


@pytest.mark.slow
def test_exercise_2_target_is_reachable(tmp_path):
    sol = solutions("21_nas")
    assert sol.MAX_PARAMS == ll.measure.count_params(ll.zoo.pretrained("spoken_digits-small")) // 4
    report = sol.exercise_2(ll.load("spoken_digits"), tmp_path / "ex2.jsonl")
    assert report.value("winner", "params") <= sol.MAX_PARAMS
    assert report.value("winner", "accuracy") >= sol.MIN_TEST_ACCURACY


def test_the_budget_prediction_counts_and_explains_by_family():
    costs = pd.DataFrame(
        {
            "family": ["mlp", "mlp", "conv", "conv"],
            "latency_ms": [0.010, 0.020, 0.030, 0.050],
            "params": [4000, 27000, 5000, 6000],
        }
    )
    text = ll.checks.budget_prediction(2, costs, 0.04, 6834)
    assert text.startswith("your guess 2 candidates, measured 2 candidates: close")
    assert "2 of the 4 candidates fit (conv 1 of 2, mlp 1 of 2)" in text  # mlp: too large; conv: too slow
    assert "the fastest of each family: mlp 10 µs, conv 30 µs" in text and "A parameter budget" in text
    latency_only = ll.checks.budget_prediction(None, costs, 0.04)
    assert "3 of the 4 candidates fit" in latency_only and "A parameter budget" not in latency_only

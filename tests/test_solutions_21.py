import pytest
from _solutions import load as solutions

import lightlab as ll
from lightlab.techniques import nas


def test_pareto_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("21_nas")
    assert ll.checks.pareto_front(sol.pareto_front).startswith("correct")
    # the library's own front agrees with the checker
    import pandas as pd

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
    task = ll.load("digits")
    space = nas.Space(kinds=("mlp", "dwsep"), depths=(0, 1, 2), widths=(16, 32, 64), kernels=(3,))
    table = nas.latency_table(space, task, rounds=1)
    report = sol.exercise_2(task, table, space, str(tmp_path / "ex2.log"))
    assert report.value("winner", "params") <= sol.MAX_PARAMS
    assert report.value("winner", "accuracy") >= sol.MIN_TEST_ACCURACY

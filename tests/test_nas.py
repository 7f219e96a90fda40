import numpy as np
import pandas as pd
import pytest
import torch

import lightlab as ll
from lightlab.techniques import nas

TINY = nas.Space(kinds=("mlp", "conv"), depths=(0, 1), widths=(8, 16), kernels=(3,))


@pytest.fixture(scope="module")
def digits():
    return ll.load("digits")


@pytest.fixture(scope="module")
def table(digits):
    return nas.latency_table(TINY, digits, rounds=1)


def test_space_lists_distinct_candidates_and_builds_them(digits):
    cands = nas.candidates(TINY, digits.input_shape)
    # depth 0 is the same linear classifier whatever the kind or width: listed once
    assert [str(c) for c in cands] == ["conv d1 w16 k3", "conv d1 w8 k3", "linear", "mlp d1 w16", "mlp d1 w8"]
    for cand in cands:
        assert cand.build(digits.input_shape, 10).eval()(digits.example(2)).shape == (2, 10)
    assert ll.measure.count_params(nas.Candidate("mlp", 1, 32).build((1, 8, 8), 10)) == 2410  # = digits-small


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"widths": ()}, r"Space widths is empty: give at least one, e.g. Space\(widths="),
        ({"kinds": ()}, "Space kinds is empty"),
        ({"kinds": ("mlp", "transformer")}, r"unknown block kinds \['transformer'\]; choose from mlp, conv"),
        ({"kernels": (2,)}, r"odd kernels >= 1; got .*kernels=\(2,\)"),
    ],
)
def test_bad_spaces_are_refused_when_built(fields, match):
    with pytest.raises(ValueError, match=match):
        nas.Space(**fields)


def test_a_space_too_deep_for_the_input_names_the_fix(digits):
    with pytest.raises(ValueError, match="depth 4 is impossible.*at most 3 blocks fit; use depths <= 3"):
        nas.candidates(nas.Space(kinds=("conv",), depths=(1, 4)), digits.input_shape)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nas.SearchConfig(sampler="grid"), "SearchConfig sampler 'grid' is unknown; choose one of random"),
        (lambda: nas.SearchConfig(trials=0), "SearchConfig trials must be an integer >= 1 or None.*got 0"),
        (lambda: nas.SearchConfig(epochs=2.5), "SearchConfig epochs must be an integer >= 1.*got 2.5"),
        (lambda: nas.SearchConfig(lr=0), "SearchConfig lr must be > 0, got 0"),
        (lambda: nas.SearchConfig(train_threads=0), "SearchConfig train_threads must be an integer >= 1"),
        (lambda: nas.SearchBudget(latency_ms=-1), r"SearchBudget latency_ms must be > 0 ms or None \(no limit\)"),
        (lambda: nas.SearchBudget(params=0), "SearchBudget params must be >= 1 or None"),
    ],
)
def test_bad_configs_and_budgets_are_refused_when_built(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_impossible_budget_names_the_tightest_feasible(digits, table):
    costs = nas.costs(TINY, digits, table)
    fastest = costs.latency_ms.min()
    with pytest.raises(ValueError, match=f"tightest feasible latency budget is {fastest:.4f} ms \\(linear\\)"):
        nas.search(task=digits, space=TINY, budget=nas.SearchBudget(latency_ms=fastest / 2), table=table)
    with pytest.raises(ValueError, match="tightest feasible params budget is 178 \\(conv d1 w8 k3\\)"):
        nas.check_budget(nas.SearchBudget(params=100), costs)
    nas.check_budget(nas.SearchBudget(latency_ms=fastest), costs)  # the tightest itself is feasible


def _search(digits, table, path, sampler="random", trials=3, budget=None):
    cfg = nas.SearchConfig(sampler=sampler, trials=trials, epochs=1, seed=3, storage=path)
    return nas.search(cfg, task=digits, space=TINY, budget=budget, table=table, progress=False)


def test_search_is_reproducible_resumable_and_within_budget(digits, table, tmp_path):
    a = _search(digits, table, tmp_path / "a.log")
    b = _search(digits, table, tmp_path / "b.log")
    cols = ["kind", "depth", "width", "kernel", "val_accuracy"]
    pd.testing.assert_frame_equal(a.trials[cols], b.trials[cols])
    assert len(a.trials) == 3 and a.trials.name.is_unique
    # rerunning with the same storage reuses the stored trials; asking for more continues the study
    again = _search(digits, table, tmp_path / "a.log")
    assert len(again.study.trials) == len(a.study.trials)
    more = _search(digits, table, tmp_path / "a.log", trials=5)
    assert len(more.trials) == 5 and more.trials.trial.tolist()[:3] == a.trials.trial.tolist()
    # a budget prunes candidates before training: only what fits is trained
    budget = nas.SearchBudget(latency_ms=nas.costs(TINY, digits, table).query("kind == 'mlp'").latency_ms.max())
    fit = _search(digits, table, tmp_path / "c.log", sampler="nsga2", budget=budget)
    assert (fit.trials.latency_ms <= budget.latency_ms).all() and not fit.trials.kind.eq("conv").any()
    assert fit.best().kind == "mlp" and budget.allows(*fit.trials.iloc[0][["latency_ms", "params"]])


def test_pareto_on_hand_made_points():
    points = pd.DataFrame(
        {
            "val_accuracy": [0.9, 0.95, 0.95, 0.8, 0.97, 0.9],
            "latency_ms": [1.0, 2.0, 3.0, 0.5, 5.0, 1.0],
            "params": [10, 10, 10, 10, 10, 10],
        }
    )
    front = nas.pareto(points)
    # 2 is dominated by 1 (same accuracy, slower); 5 ties 0 exactly, so neither dominates the other
    assert front.index.tolist() == [0, 1, 3, 4, 5]
    assert nas.pareto(points, minimize=("latency_ms",)).index.tolist() == [0, 1, 3, 4, 5]
    assert nas.pareto(points.assign(params=[10, 10, 10, 10, 10, 11])).index.tolist() == [0, 1, 3, 4]
    assert nas.pareto(points.iloc[:0]).empty


def test_compare_with_references_reports_measured_rows(digits, table):
    small = ll.zoo.pretrained("digits-small")
    entries = dict(table.entries)
    report = nas.compare_with_references({"small": small}, digits, table, rounds=2)
    assert report.value("small", "accuracy") == pytest.approx(97.5, abs=0.01)
    assert report.value("small", "params") == 2410 and report.value("small", "latency_p50_b1") > 0
    assert "alternating rounds" in next(r["method"] for r in report.rows if r["metric"] == "latency_p50_b1")
    assert report.value("small", "latency_predicted") > table.overhead_ms
    assert table.entries == entries  # digits-small's missing layers were measured into a copy


def test_check_table_times_candidates_spread_over_the_space(digits, table):
    check = nas.check_table(TINY, digits, table, count=3, rounds=1)
    assert len(check.models()) == 3 and check.models()[0] == "linear"  # from the fastest candidate on
    for name in check.models():
        predicted, measured = check.value(name, "latency_predicted"), check.value(name, "latency_p50_b1")
        assert check.value(name, "prediction_error") == pytest.approx(100 * abs(predicted - measured) / measured)


def _timed(lat, spread=0.0):
    report = ll.Report()
    for name, t in (("ref", 0.010), ("cand", lat)):
        report.add(name, "latency_p50", t, "ms", "timed", spread=spread)
    return report


def _test(better):
    """A paired test on 360 inputs where ``better`` is right on 20 more (p < 1e-5), or a tie (one image apart)."""
    y = np.zeros(360, dtype=int)
    one, other = y.copy(), y.copy()
    other[:20] = 1 if better else 0
    other[0] = 1  # never a win on one image: one image apart is a tie
    a, b = (one, other) if better in ("cand", None) else (other, one)
    return ll.stats.compare(y, a, b, ("cand", "ref"))


@pytest.mark.parametrize(
    "better, lat, spread, expected",
    [
        (None, 0.010, 0.0, False),  # a tie is not domination
        (None, 0.0090, 0.0, True),  # no detectable accuracy difference and clearly faster
        ("cand", 0.0104, 0.0, True),  # shown more accurate, 4 % slower: within the 5 % resolution, "as fast"
        ("cand", 0.0110, 0.0, False),  # more accurate but 10 % slower: a trade-off, not domination
        ("cand", 0.0110, 0.002, False),  # a noisy timing does not widen "as fast": the tolerance is stated
        (None, 0.0090, 0.002, False),  # faster, but not when the timings' spread is wider than the difference
        ("ref", 0.0050, 0.0, False),  # faster but shown less accurate
    ],
)
def test_dominates_uses_the_paired_test_and_the_stated_resolution(better, lat, spread, expected):
    test = _test(better)
    assert test.better == better
    assert nas.dominates(_timed(lat, spread), "cand", "ref", test) is expected


def test_dominates_refuses_a_test_of_other_models():
    with pytest.raises(ValueError, match="compares"):
        nas.dominates(_timed(0.009), "cand", "ref", ll.stats.compare([0], [0], [0], ("x", "y")))


def test_retrain_is_seeded(digits):
    cand = nas.Candidate("mlp", 1, 8)
    a, b = (nas.retrain(cand, task=digits, epochs=2, progress=False) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))

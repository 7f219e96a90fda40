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
    return nas.latency_table(TINY, digits, rounds=1, progress=False)


def test_space_lists_distinct_candidates_and_builds_them(digits):
    cands = nas.candidates(TINY, digits.input_shape)
    # depth 0 is the same linear classifier whatever the kind or width: listed once
    assert [str(c) for c in cands] == ["conv d1 w16 k3", "conv d1 w8 k3", "linear", "mlp d1 w16", "mlp d1 w8"]
    for cand in cands:
        assert cand.build(digits.input_shape, 10).eval()(digits.example(2)).shape == (2, 10)
    assert ll.measure.count_params(nas.Candidate("mlp", 1, 32).build((1, 8, 8), 10)) == 2410  # = digits-small


@pytest.mark.parametrize(
    "space, match",
    [
        (nas.Space(widths=()), "no widths"),
        (nas.Space(kinds=()), "no kinds"),
        (nas.Space(kinds=("mlp", "transformer")), "unknown block kinds.*choose from"),
        (nas.Space(kinds=("conv",), depths=(1, 4)), "depth 4 is impossible.*at most 3 blocks fit; use depths <= 3"),
        (nas.Space(kernels=(2,)), "kernels odd"),
    ],
)
def test_bad_spaces_raise_naming_the_fix(digits, space, match):
    with pytest.raises(ValueError, match=match):
        nas.candidates(space, digits.input_shape)


def test_latency_table_predicts_whole_models_within_a_sane_band(digits, table):
    assert table.overhead_ms > 0 and all(v > 0 for v in table.entries.values())
    assert "batch 1" in table.method and f"{table.threads} threads" in table.method
    x = digits.example(1)
    for cand in nas.candidates(TINY, digits.input_shape):
        model = cand.build(digits.input_shape, 10)
        predicted = table.predict(model, digits.input_shape)
        measured = ll.measure.latency(model, x, repeats=50).p50
        assert 0.2 < predicted / measured < 5  # loose: the benchmark checks the 20 % target on a quiet machine
    # a layer the table has not seen is named, and add() measures it
    small = ll.zoo.pretrained("digits-small")
    with pytest.raises(KeyError, match="no entry for Linear.*out_features=32"):
        table.predict(small, digits.input_shape)
    assert table.add(small, digits.input_shape, rounds=1).predict(small, digits.input_shape) > table.overhead_ms


def test_impossible_budget_names_the_tightest_feasible(digits, table):
    costs = nas.costs(TINY, digits, table)
    fastest = costs.latency_ms.min()
    with pytest.raises(ValueError, match=f"tightest feasible latency budget is {fastest:.4f} ms \\(linear\\)"):
        nas.search(digits, TINY, nas.Budget(latency_ms=fastest / 2), table=table, progress=False)
    with pytest.raises(ValueError, match="tightest feasible params budget is 178 \\(conv d1 w8 k3\\)"):
        nas.check_budget(nas.Budget(params=100), costs)
    nas.check_budget(nas.Budget(latency_ms=fastest), costs)  # the tightest itself is feasible


def _search(digits, table, path, sampler="random", trials=3, budget=None):
    cfg = nas.SearchConfig(sampler=sampler, trials=trials, epochs=1, seed=3, storage=path)
    return nas.search(digits, TINY, budget or nas.Budget(), cfg, table=table, progress=False)


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
    budget = nas.Budget(latency_ms=nas.costs(TINY, digits, table).query("kind == 'mlp'").latency_ms.max())
    fit = _search(digits, table, tmp_path / "c.log", sampler="nsga2", budget=budget)
    assert (fit.trials.latency_ms <= budget.latency_ms).all() and not fit.trials.kind.eq("conv").any()
    assert fit.best().kind == "mlp" and budget.allows(*fit.trials.iloc[0][["latency_ms", "params"]])


def test_unknown_sampler_and_bad_trials(digits, table):
    with pytest.raises(ValueError, match="unknown sampler 'grid'; choose one of random, nsga2, tpe"):
        nas.search(digits, TINY, cfg=nas.SearchConfig(sampler="grid"), table=table)
    with pytest.raises(ValueError, match="trials and epochs must be >= 1"):
        nas.search(digits, TINY, cfg=nas.SearchConfig(trials=0), table=table)


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


def test_compare_reports_measured_rows(digits, table):
    small = ll.zoo.pretrained("digits-small")
    report = nas.compare({"small": small}, digits, table, rounds=1)
    assert report.value("small", "accuracy") == pytest.approx(97.5, abs=0.01)
    assert report.value("small", "params") == 2410 and report.value("small", "latency_p50") > 0
    assert "interleaved" in next(r["method"] for r in report.rows if r["metric"] == "latency_p50")


def _timed(acc, lat, spread=0.0):
    report = ll.Report()
    for name, a, t in (("ref", 97.5, 0.010), ("cand", acc, lat)):
        report.add(name, "accuracy", a, "%", "test").add(name, "latency_p50", t, "ms", "timed", spread=spread)
    return report


@pytest.mark.parametrize(
    "acc, lat, spread, expected",
    [
        (97.5, 0.010, 0.0, False),  # a tie is not domination
        (98.0, 0.0104, 0.0, True),  # more accurate, 4 % slower: within the 5 % resolution, "as fast"
        (98.0, 0.0110, 0.0, False),  # more accurate but 10 % slower: a trade-off, not domination
        (98.0, 0.0110, 0.002, False),  # a noisy timing does not widen "as fast": the tolerance is stated
        (97.5, 0.0090, 0.0, True),  # as accurate and clearly faster
        (97.5, 0.0090, 0.002, False),  # ... but not when the timings' spread is wider than the difference
        (97.0, 0.0050, 0.0, False),  # faster but less accurate
    ],
)
def test_dominates_uses_the_stated_resolution(acc, lat, spread, expected):
    assert nas.dominates(_timed(acc, lat, spread), "cand", "ref") is expected


def test_figure_and_explorer(digits, table, tmp_path):
    result = _search(digits, table, tmp_path / "e.log", trials=4)
    ref = nas.compare({"digits-small": ll.zoo.pretrained("digits-small")}, digits, table, rounds=1)
    fig = nas.figure(result, ref)
    assert {t.name for t in fig.data} >= {"trained candidates", "Pareto front", "digits-small"}
    explorer = nas.BudgetExplorer(result, ref)
    everything = explorer.run()
    assert everything["feasible"] == 4 and everything["best"] == result.best()
    explorer.latency.value = float(result.trials.latency_ms.min())
    tight = explorer.result
    assert tight["feasible"] >= 1 and np.all(tight["front"].latency_ms <= explorer.latency.value)


def test_retrain_is_seeded(digits):
    cand = nas.Candidate("mlp", 1, 8)
    a, b = (nas.retrain(cand, digits, epochs=2, progress=False) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))

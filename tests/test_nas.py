"""Tests for lightlab.techniques.nas: the search trains through the sweep (parallel = serial, resumed = nothing
trained again), the front is filtered by a budget, and the winner is judged by a paired test."""

import numpy as np
import pandas as pd
import pytest
import torch

import lightlab as ll
from lightlab.techniques import nas, nas_latency
from lightlab.techniques.nas_space import Candidate, Layer, Space

TINY = Space(kinds=("conv", "dwsep"), depths=(0, 1), widths=(8, 16), kernels=(3,), heads=("flatten",), hidden=(0, 8))


@pytest.fixture(scope="module")
def table(digits):
    with ll.config.using_threads(1):
        return nas_latency.latency_table(TINY, digits, rounds=1)


def _search(digits, table, path, trials=4, workers=1, sampler="nsga2", start=()):
    cfg = nas.SearchConfig(sampler=sampler, trials=trials, batch=2, epochs=1, seed=3)
    return nas.search(
        cfg, task=digits, space=TINY, table=table, path=path, start=start, workers=workers, progress=False
    )


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nas.SearchConfig(sampler="grid"), "SearchConfig sampler 'grid' is unknown; choose one of random"),
        (lambda: nas.SearchConfig(trials=0), "SearchConfig trials must be an integer >= 1 or None.*got 0"),
        (lambda: nas.SearchConfig(batch=1), "SearchConfig batch must be an integer >= 2 or None.*got 1"),
        (lambda: nas.SearchConfig(epochs=2.5), "SearchConfig epochs must be an integer >= 1.*got 2.5"),
        (lambda: nas.SearchConfig(lr=0), "SearchConfig lr must be > 0, got 0"),
        (lambda: nas.SearchBudget(latency_ms=-1), r"SearchBudget latency_ms must be > 0 ms or None \(no limit\)"),
        (lambda: nas.SearchBudget(params=0), "SearchBudget params must be >= 1 or None"),
    ],
)
def test_bad_configs_and_budgets_are_refused_when_built(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_parallel_and_serial_searches_train_the_same_candidates(digits, table, tmp_path):
    serial = _search(digits, table, tmp_path / "serial.jsonl", workers=1)
    parallel = _search(digits, table, tmp_path / "parallel.jsonl", workers=2)
    cols = ["trial", "name", "val_accuracy", "latency_ms", "params"]
    pd.testing.assert_frame_equal(serial.trials[cols], parallel.trials[cols])  # bit-identical scores
    assert len(serial.study.trials) == 4 and serial.trained == len(serial.trials) and serial.trials.name.is_unique
    # every trained candidate is one record of the sweep's file, with the candidate's choices in its params
    records = ll.sweep.load(tmp_path / "serial.jsonl")
    assert len(records) == serial.trained and {r["status"] for r in records} == {"ok"}
    assert {str(Candidate.from_params(r["params"]["layers"], r["params"]["head"], r["params"]["hidden"]))
            for r in records} == set(serial.trials.name)  # fmt: skip


def test_a_resumed_search_trains_nothing_again_and_more_trials_train_only_the_new(digits, table, tmp_path):
    path = tmp_path / "s.jsonl"
    first = _search(digits, table, path)
    again = _search(digits, table, path)
    assert again.trained == 0 and len(ll.sweep.load(path)) == first.trained
    pd.testing.assert_frame_equal(again.trials, first.trials.assign(train_s=again.trials.train_s))
    more = _search(digits, table, path, trials=8)
    assert more.trials.iloc[: len(first.trials)].name.tolist() == first.trials.name.tolist()  # the same start
    assert more.trained == len(more.trials) - len(first.trials) == len(ll.sweep.load(path)) - first.trained


def test_the_search_starts_from_the_given_candidates(digits, table, tmp_path):
    start = [Candidate(hidden=8), Candidate((Layer("dwsep", 16, 3),), "flatten", 0)]
    result = _search(digits, table, tmp_path / "s.jsonl", start=start, sampler="random")
    assert result.trials.name.tolist()[:2] == ["mlp 8", "dwsep16k3 flatten"]
    with pytest.raises(ValueError, match="start candidate mlp 64 is outside the space.*hidden 64"):
        _search(digits, table, tmp_path / "t.jsonl", start=[Candidate(hidden=64)])


def test_only_shipped_tasks_can_be_searched(digits, table, tmp_path):
    own = ll.Task.from_arrays(digits.example(40).numpy(), np.arange(40) % 10, name="mine")
    with pytest.raises(ValueError, match="task 'mine' is not a shipped task: the workers load it by name"):
        nas.search(task=own, space=TINY, table=table, path=tmp_path / "s.jsonl")
    with pytest.raises(ValueError, match="asked with quick mode False, but this worker runs with True"):
        nas.train_candidate("digits", [], "flatten", 0, 1, 0.01, 0, quick=False)


FRONT = pd.DataFrame(
    {
        "name": ["a", "b", "c", "d", "e"],
        "val_accuracy": [0.90, 0.95, 0.97, 0.93, 0.96],
        "latency_ms": [0.010, 0.020, 0.050, 0.030, 0.020],
        "params": [4000, 30000, 20000, 5000, 6000],
    }
)


def test_a_budget_filters_the_front_and_picks_the_most_accurate_within_it(digits, table, tmp_path):
    assert nas.within(FRONT, nas.SearchBudget(latency_ms=0.025)).name.tolist() == ["a", "b", "e"]
    assert nas.within(FRONT, nas.SearchBudget(params=6000)).name.tolist() == ["a", "d", "e"]
    assert nas.within(FRONT, nas.SearchBudget(0.025, 5000)).name.tolist() == ["a"]
    assert nas.within(FRONT, nas.SearchBudget()).equals(FRONT)
    result = _search(digits, table, tmp_path / "s.jsonl", trials=8)
    budget = nas.SearchBudget(params=int(result.trials.params.median()))
    fits = nas.within(result.front(), budget)
    expected = fits.sort_values(["val_accuracy", "latency_ms"], ascending=[False, True]).name.iloc[0]
    assert str(result.best(budget)) == expected and budget.allows(*fits.iloc[0][["latency_ms", "params"]])
    # no budget: the most accurate candidate of all, which is always on the front
    ranked = result.trials.sort_values(["val_accuracy", "latency_ms", "params"], ascending=[False, True, True])
    assert str(result.best()) == ranked.name.iloc[0] and ranked.name.iloc[0] in set(result.front().name)
    with pytest.raises(ValueError, match="no trained candidate meets"):
        result.best(nas.SearchBudget(params=1))


def test_an_impossible_budget_names_the_tightest_feasible(digits, table):
    costs = nas_latency.costs(TINY, digits, table)
    fastest = costs.latency_ms.min()
    with pytest.raises(ValueError, match=f"tightest feasible latency budget is {fastest:.4f} ms \\(linear\\)"):
        nas.check_budget(nas.SearchBudget(latency_ms=fastest / 2), costs)
    with pytest.raises(ValueError, match=r"tightest feasible params budget is 610 \(mlp 8\)"):
        nas.check_budget(nas.SearchBudget(params=100), costs)
    nas.check_budget(nas.SearchBudget(latency_ms=fastest), costs)  # the tightest itself is feasible


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
    assert nas.pareto(points.assign(params=[10, 10, 5, 10, 10, 10])).index.tolist() == [0, 1, 2, 3, 4, 5]  # smaller
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


def test_retrain_is_seeded_and_deployed(digits):
    cand = Candidate((Layer("conv", 8, 3),), "flatten", 0)
    a, b = (nas.retrain(cand, task=digits, epochs=2, progress=False) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in a.modules()) and not a.training

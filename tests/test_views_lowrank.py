import json
import time

import pytest
from _figures import problems

import lightlab as ll

RANKS = (4, 16, 64)


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


@pytest.fixture(scope="module")
def sweep(large, digits):
    return ll.lowrank.rank_sweep(large, RANKS, task=digits, layers=("6",), repeats=3)


def _readable(fig) -> list[str]:
    return problems(json.loads(fig.to_json()))


def test_spectrum_draws_each_layer_and_its_break_even_rank(large):
    fig = ll.views.lowrank.spectrum(large, ("6", "2"), untrained=ll.zoo.create("digits-large"))
    values = [t for t in fig.data if t.name.startswith("layer") and t.xaxis == "x" and "untrained" not in t.name]
    assert [len(t.y) for t in values] == [512, 128]
    start = next(t for t in fig.data if t.name == "layer '6' (Linear, 512 × 2048), untrained (random init)")
    assert start.line.dash == "dot" and start.y[0] < values[0].y[0] / 4  # training wrote the top directions
    assert values[0].y[0] == pytest.approx(float(ll.lowrank.singular_values(large[6].weight)[0]))
    even = [t for t in fig.data if t.name.startswith("break-even")]
    assert [t.x[0] for t in even] == pytest.approx([409.6, 576 * 128 / 704])
    energy = [t for t in fig.data if t.xaxis == "x2" and t.name.startswith("layer")][0]
    assert energy.y[-1] == pytest.approx(100) and list(energy.y) == sorted(energy.y)
    assert fig.layout.title.text and fig.layout.yaxis.type == "log" and _readable(fig) == []


def test_tradeoff_puts_every_rank_beside_the_original(sweep):
    fig = ll.views.lowrank.tradeoff(sweep, breakeven=409.6, chosen=16)
    factored = [t for t in fig.data if t.name.startswith("factored")]
    assert len(factored) == 4 and all(list(t.x) == list(RANKS) for t in factored)
    assert list(factored[0].y) == [sweep.value(f"rank {r}", "accuracy") for r in RANKS]
    assert list(factored[1].y) == pytest.approx([sweep.value(f"rank {r}", "size") / 1e3 for r in RANKS])
    ring = [t for t in fig.data if t.name == "rank 16"]
    assert len(ring) == 4 and ring[0].y[0] == sweep.value("rank 16", "accuracy")
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["test accuracy (%)", "file size (kB)", "latency, batch 1 (ms)", "latency, batch 64 (ms)"]
    assert _readable(fig) == []


def test_layer_speed_shows_measured_against_mac_ratio(large, digits):
    timing = ll.lowrank.layer_timing(large, "6", (8, 400), task=digits, batch_sizes=(1, 8), repeats=3)
    fig = ll.views.lowrank.layer_speed(timing)
    macs = next(t for t in fig.data if t.name == "predicted by MACs")
    assert list(macs.y) == pytest.approx([2048 * 512 / (8 * 2560), 2048 * 512 / (400 * 2560)])
    measured = next(t for t in fig.data if t.name.startswith("measured, batch 8"))
    assert measured.y[0] == pytest.approx(timing.ratio("latency_p50_b8", "dense", "rank 8"))
    assert _readable(fig) == []


def test_explorer_answers_from_precomputed_results(large, digits, sweep):
    explorer = ll.views.lowrank.LowRankExplorer(large, digits, layers=("6",), report=sweep)
    assert list(explorer.rank.options) == list(RANKS) and explorer.rank.continuous_update is False
    explorer.run()
    assert explorer.result.models() == ["original", "rank 16"]
    summary = explorer.summary.value
    assert "rank 16" in summary and "below the break-even rank 410" in summary
    assert ("no detectable difference at n = 360" in summary) or ("is better" in summary)
    assert "the original's speed" in summary or "not measurable now" in summary
    start = time.perf_counter()
    explorer.rank.value = 4
    assert time.perf_counter() - start < 1.5  # nothing is measured on a move: it reads and redraws
    assert explorer.runs == 2 and explorer.result.models() == ["original", "rank 4"]
    assert "original is better" in explorer.summary.value  # rank 4 loses ~40 points: the paired test says so


def test_explorer_flags_disturbed_timings(large, digits, sweep):
    explorer = ll.views.lowrank.LowRankExplorer(large, digits, layers=("6",), report=sweep)
    explorer.run()
    for row in explorer.result.rows:
        if row["metric"].startswith("latency"):
            row["note"] = "disturbed: other processes used 1.5 cores while timing; rerun on a quiet machine"
    summary = explorer.describe(explorer.result)
    assert summary.count("not measurable now") == 2 and "the original's speed" not in summary

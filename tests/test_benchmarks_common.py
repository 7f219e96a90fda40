"""The benchmarks' shared target logic: a timing disturbed by other processes gives "not measurable now"."""

import json
import sys
from pathlib import Path

import lightlab as ll

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _common  # noqa: E402


def _report(note_on_small: str | None) -> ll.Report:
    report = ll.Report().add("large", "latency_p50_b1", 2.0, "ms", "wall clock")
    return report.add("small", "latency_p50_b1", 0.1, "ms", "wall clock", note=note_on_small)


def test_a_quiet_ratio_is_judged():
    targets = []
    ratio = _common.ratio_target(targets, "speed-up", _report(None), "latency_p50_b1", "large", "small", ">= 5",
                                 lambda r: r >= 5)  # fmt: skip
    assert ratio == 20 and targets == [{"target": "speed-up", "value": 20.0, "goal": ">= 5", "met": True}]


def test_a_disturbed_ratio_is_not_measurable_now_and_does_not_fail(tmp_path, monkeypatch):
    targets = []
    note = "disturbed: other processes used 1.0 cores while timing; rerun on a quiet machine"
    _common.ratio_target(targets, "speed-up", _report(note), "latency_p50_b1", "large", "small", ">= 50",
                         lambda r: r >= 50)  # fmt: skip
    assert targets[0]["met"] is None and targets[0]["note"].startswith("not measurable now")
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    assert _common.finish("unit", targets, []) == 0
    written = json.loads((tmp_path / "unit.json").read_text())
    assert written["targets"][0]["met"] is None and not list(tmp_path.glob("*.tmp"))


def test_a_failed_target_fails_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    targets = []
    _common.target(targets, "size", 3.0, "<= 2", False)
    assert _common.finish("unit", targets, []) == 1


def test_a_claim_carries_its_test(capsys):
    targets = []
    y = [0] * 100
    tie = ll.stats.compare(y, [1] + y[1:], y, ("small", "large"))  # small misses one of 100: not within 2 shown
    _common.target(targets, "small / large accuracy", 0.99, ">= 0.95", True, test=ll.stats.kept(y, [1] + y[1:], y))
    _common.target(targets, "gap (points)", 1.0, "<= 2", True, test=tie, shown=tie.within(2))
    _common.target(targets, "gain (points)", 1.0, ">= 0.5", True, test=ll.stats.seed_interval([0.5, 1.0, 1.5]))
    kept, gap, gain = targets
    assert kept["shown"] is True and kept["interval"][0] >= 0.95 and "keeps >= 95%" in kept["verdict"]
    assert gap["p_value"] == 1.0 and gap["shown"] is False and gap["verdict"].startswith("no detectable difference")
    assert gain["interval"] == [round(ll.stats.seed_interval([0.5, 1.0, 1.5]).low, 4), 2.2421] and gain["shown"] is None
    _common.print_targets(targets)
    assert "NOT shown: no detectable difference at n = 100" in capsys.readouterr().out

import pytest
import torch
from _solutions import load as solutions

import lightlab as ll


def test_pick_width_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("23_adaptive_models")
    assert ll.checks.pick_width(sol.pick_width).startswith("correct")

    def rule(fits, key="accuracy", best=max, fallback=False):
        def pick(table, latency_ms, memory_kb):
            ok = [p for p in table if fits(p, latency_ms, memory_kb)]
            if not ok:
                return table[0]["width"] if fallback else None
            return best(ok, key=lambda p: p[key])["width"]

        return pick

    both = lambda p, lat, mem: p["latency_ms"] <= lat and p["memory_kb"] <= mem  # noqa: E731
    mistakes = {
        "FASTEST": rule(both, key="latency_ms", best=min),
        "WIDEST": rule(both, key="width"),
        "ignore the memory budget": rule(lambda p, lat, mem: p["latency_ms"] <= lat),
        "ignore the latency budget": rule(lambda p, lat, mem: p["memory_kb"] <= mem),
        "not <": rule(lambda p, lat, mem: p["latency_ms"] < lat and p["memory_kb"] < mem),
        "return None": rule(both, fallback=True),
        "most accurate of them": lambda table, lat, mem: 0.5,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.pick_width(wrong)


def test_exit_index_solution_passes_and_mistakes_get_a_hint():
    sol = solutions("23_adaptive_models")
    assert ll.checks.exit_index(sol.exit_index).startswith("correct")
    assert ll.checks.exit_index(ll.adaptive.early_exit.exit_index).startswith("correct")

    def rule(confident, last=False, fallback=True):
        def exit_index(logits, threshold):
            sure = confident(logits, threshold)
            hits = [[k for k in range(sure.shape[0]) if sure[k, i]] for i in range(sure.shape[1])]
            none = sure.shape[0] - 1 if fallback else 0  # no exit is sure: the last one answers
            return torch.tensor([(h[-1] if last else h[0]) if h else none for h in hits])

        return exit_index

    probs = lambda x, t: x.softmax(-1).amax(-1) >= t  # noqa: E731
    mistakes = {
        "LAST confident exit": rule(probs, last=True),
        "every input goes to the last exit": lambda x, t: torch.full((x.shape[1],), x.shape[0] - 1),
        "compare the LOGITS": rule(lambda x, t: x.amax(-1) >= t),
        ">=, not >": rule(lambda x, t: x.softmax(-1).amax(-1) > t),
        "runs to the LAST exit": rule(probs, fallback=False),
        "numbered from 0": lambda x, t: ll.adaptive.early_exit.exit_index(x, t) + 1,
        "over the classes": rule(lambda x, t: x.softmax(1).amax(-1) >= t),
        "must `return`": lambda x, t: None,
        "do not modify": lambda x, t: ll.adaptive.early_exit.exit_index(x.mul_(1.0001), t),
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.exit_index(wrong)


def test_the_exit_share_prediction_explains_the_measurement():
    report = ll.Report()
    for k, share in enumerate((60.0, 30.0, 10.0)):
        report.add("t=0.9", f"exit {k} share", share, "%", "m")
    said = ll.checks.first_exit_prediction(55, report, threshold=0.9)
    assert said.startswith("your guess 55 %, measured 60 %: close") and "30 % at exit 1, 10 % at exit 2" in said
    assert ll.checks.first_exit_prediction(None, report).startswith("no prediction written: measured 60 %")
    with pytest.raises(ll.checks.CheckFailed, match="must be a number"):
        ll.checks.first_exit_prediction("most", report)


@pytest.mark.slow
def test_exercise_3_target_is_reachable(digits):
    report = solutions("23_adaptive_models").exercise_3(digits)
    assert report.ratio("macs", "w=1", "w=0.125") >= 30
    assert min(report.value(m, "accuracy") for m in report.models()) >= 85

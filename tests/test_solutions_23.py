import pytest
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


@pytest.mark.slow
def test_exercise_3_target_is_reachable(digits):
    report = solutions("23_adaptive_models").exercise_3(digits)
    assert report.ratio("macs", "w=1", "w=0.125") >= 30
    assert min(report.value(m, "accuracy") for m in report.models()) >= 85

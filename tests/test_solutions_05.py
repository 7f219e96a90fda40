import pytest
import torch
from _solutions import load

import lightlab as ll
from lightlab.measurement.report import Report


@pytest.fixture(scope="module")
def solutions():
    return load("05_low_rank")


def test_solutions_pass_the_checkers(solutions):
    assert ll.checks.factorize(solutions.factorize).startswith("correct")
    assert ll.checks.factorize(ll.lowrank.factorize).startswith("correct")
    assert ll.checks.factored_params(solutions.factored_params).startswith("correct")
    assert ll.checks.factored_params(ll.lowrank.factored_params).startswith("correct")


def _svd(w):
    return torch.linalg.svd(w, full_matrices=False)


def _untruncated(w, r):
    u, s, vh = _svd(w)
    return u * s.sqrt(), s.sqrt()[:, None] * vh


def _all_s_on_truncated_u(w, r):
    u, s, vh = _svd(w)
    return u[:, :r] @ torch.diag(s), vh[:r]  # 4 × 2 @ 4 × 4: a shape error


def _torch_svd_v(w, r):
    u, s, v = torch.svd(w)  # V, not Vᵀ
    return u[:, :r] * s[:r].sqrt(), v[:, :r] * s[:r].sqrt()


def _s_on_one_side(w, r):
    u, s, vh = _svd(w)
    return u[:, :r] * s[:r], vh[:r]


def _no_s(w, r):
    u, _s, vh = _svd(w)
    return u[:, :r], vh[:r]


def _sqrt_once(w, r):
    u, s, vh = _svd(w)
    return u[:, :r] * s[:r].sqrt(), vh[:r]


def _smallest(w, r):
    u, s, vh = _svd(w)
    return u[:, -r:] * s[-r:].sqrt(), s[-r:].sqrt()[:, None] * vh[-r:]


def _rank_fixed_at_2(w, r):
    return ll.lowrank.factorize(w, 2)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda w, r: None, "must `return U, V`"),
        (lambda w, r: torch.mm(*ll.lowrank.factorize(w, r)), "not their product"),
        (_untruncated, "forgot to truncate"),
        (_all_s_on_truncated_u, "all min"),
        (_torch_svd_v, "not Vᵀ"),
        (_s_on_one_side, "all of S sits on one side"),
        (_no_s, "left out the singular"),
        (_sqrt_once, "BOTH sides"),
        (_smallest, "smallest"),
        (_rank_fixed_at_2, "full rank"),
    ],
)
def test_wrong_factorizations_get_their_hint(wrong, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.factorize(wrong)


def test_factorize_checker_catches_an_in_place_change():
    def in_place(weight, rank):
        u, v = ll.lowrank.factorize(weight, rank)
        weight.zero_()
        return u, v

    with pytest.raises(ll.checks.CheckFailed, match="in place"):
        ll.checks.factorize(in_place)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda m, n, r: m * n, "dense layer"),
        (lambda m, n, r: r * m * n, "add them"),
        (lambda m, n, r: r * m, "U only"),
        (lambda m, n, r: r * (m + n) + m, "bias"),
        (lambda m, n, r: 40960, "use the arguments"),
        (lambda m, n, r: None, "must `return`"),
    ],
)
def test_wrong_parameter_counts_get_their_hint(wrong, hint):
    with pytest.raises(ll.checks.CheckFailed, match=hint):
        ll.checks.factored_params(wrong)


def _timing(dense_ms: float, factored_ms: float, note: str | None = None) -> Report:
    report = Report()
    report.add("dense", "latency_p50_b64", dense_ms, "ms", "fixed example", note=note)
    report.add("rank 16", "latency_p50_b64", factored_ms, "ms", "fixed example", note=note)
    report.add("rank 16", "mac_ratio", 25.6, "x", "fixed example")
    return report


def test_prediction_is_compared_and_explained():
    measured = _timing(0.8, 0.1)  # 8× faster
    assert ll.checks.predicted_speedup(None, measured).startswith("no prediction written: measured 8 x.")
    with pytest.raises(ll.checks.CheckFailed, match="speed-up > 0"):
        ll.checks.predicted_speedup(-2, measured)
    assert "Close" in ll.checks.predicted_speedup(7, measured)
    mac = ll.checks.predicted_speedup(25.6, measured)
    assert "measured 8.00×" in mac and "You predicted the MAC ratio" in mac and "two matrix multiplies" in mac
    assert "Faster than you expected" in ll.checks.predicted_speedup(2, measured)
    assert "Slower than you expected" in ll.checks.predicted_speedup(60, measured)
    disturbed = _timing(0.8, 0.1, note="disturbed: other processes used 1.2 cores while timing")
    assert "not measurable now" in ll.checks.predicted_speedup(7, disturbed)


def test_exercise_4_target_is_reachable(solutions, digits):
    model = solutions.small_model(digits)
    large = ll.zoo.pretrained("digits-large")
    assert ll.measure.serialized_size(model) <= 0.06 * ll.measure.serialized_size(large)
    y, base = ll.metrics.predictions(large, digits.test)
    assert ll.stats.kept(y, ll.metrics.predictions(model, digits.test)[1], base, share=0.98).holds
    assert model(digits.example(3)).shape == torch.Size([3, 10])

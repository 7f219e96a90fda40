import numpy as np
import pytest
from scipy.stats import binomtest

import lightlab as ll
from lightlab.measurement import stats


@pytest.mark.parametrize(("k", "n"), [(0, 1), (3, 10), (7, 30), (50, 120), (400, 1000), (5, 5)])
def test_exact_binomial_matches_scipy(k, n):
    assert stats.binomial_two_sided(k, n) == pytest.approx(binomtest(k, n, 0.5).pvalue, rel=1e-9)


def _pair(n, acc_a, acc_b, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    a = np.where(rng.random(n) < acc_a, y, (y + 1) % 10)
    b = np.where(rng.random(n) < acc_b, y, (y + 2) % 10)
    return y, a, b


def test_mcnemar_counts_only_disagreements():
    y = np.zeros(10, dtype=int)
    a = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])  # 8 right
    b = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])  # 5 right; a alone right on 3, b alone on 0
    r = stats.mcnemar(y, a, b, ("a", "b"))
    assert (r.only_a, r.only_b, r.n) == (3, 0, 10)
    assert r.scores == (80.0, 50.0) and r.difference == 30.0
    assert r.p_value == pytest.approx(0.25)  # 3 of 3 discordant pairs: 2 * 0.5**3
    assert r.better is None and r.verdict.startswith("no detectable difference at n = 10")


def test_a_real_difference_is_called_and_its_interval_excludes_zero():
    r = stats.mcnemar(*_pair(2000, 0.95, 0.85), names=("big", "small"))
    assert r.better == "big" and r.p_value < 1e-6
    assert 0 < r.interval[0] < r.difference < r.interval[1]
    assert r.verdict.startswith("big is better (+") and "exact McNemar, n = 2000" in r.verdict


def test_one_image_is_not_a_win():
    y = np.arange(360) % 10
    b = y.copy()
    b[0] = 9  # b misses one image that a gets right: the README's old "97.8 vs 97.5 %"
    r = stats.mcnemar(y, y, b, ("nas", "digits-small"))
    assert r.difference == pytest.approx(100 / 360) and r.p_value == 1.0 and r.better is None


def test_identical_models_have_p_one_and_a_zero_interval():
    y, a, _ = _pair(300, 0.9, 0.9)
    r = stats.mcnemar(y, a, a)
    assert r.p_value == 1.0 and r.interval == (0.0, 0.0)


def test_compare_uses_mcnemar_for_accuracy_and_a_bootstrap_otherwise():
    y, a, b = _pair(500, 0.95, 0.80)
    assert stats.compare(y, a, b).test == "exact McNemar"
    f1 = stats.compare(y, a, b, ("a", "b"), metric="macro_f1")
    assert f1.test == "paired bootstrap" and f1.better == "a" and f1.interval[0] > 0
    same = stats.compare(y, a, a, metric="balanced_accuracy")
    assert same.p_value == 1.0 and same.better is None


def test_results_are_seeded():
    y, a, b = _pair(400, 0.9, 0.88)
    assert stats.compare(y, a, b, metric="macro_f1", seed=3) == stats.compare(y, a, b, metric="macro_f1", seed=3)


def test_kept_is_shown_only_when_the_whole_interval_clears_the_share():
    y, a, b = _pair(3000, 0.97, 0.98)
    shown = stats.kept(y, a, b, 0.95, ("small", "large"))
    assert shown.holds and shown.interval[0] >= 0.95 and shown.verdict.startswith("small keeps >= 95%")
    y, a, b = _pair(100, 0.93, 0.97)
    unsure = stats.kept(y, a, b, 0.95, ("small", "large"))
    assert not unsure.holds and unsure.interval[0] < 0.95 and unsure.verdict.startswith("not shown at n = 100")
    assert stats.kept(y, a, b).to_dict()["holds"] is False


def test_seed_interval_is_student_t():
    iv = stats.seed_interval([97.2, 97.8, 96.9])
    assert iv.mean == pytest.approx(97.3)
    # t(0.975, df=2) = 4.303; sd = 0.458; half-width = 4.303 * 0.458 / sqrt(3)
    assert iv.high - iv.mean == pytest.approx(4.303 * np.std([97.2, 97.8, 96.9], ddof=1) / 3**0.5, rel=1e-3)
    assert "3 seeds" in str(iv)


def test_minimal_detectable_difference_shrinks_with_n_and_with_pairing():
    mdd = stats.minimal_detectable_difference
    assert mdd(360, 0.975) == pytest.approx(3.26, abs=0.01)  # (1.96 + 0.84) * sqrt(2 * .975 * .025 / 360)
    assert mdd(1440, 0.975) == pytest.approx(mdd(360, 0.975) / 2)
    assert mdd(360, 0.975, discordant=0.02) < mdd(360, 0.975)


def test_wilson_interval_of_one_accuracy():
    low, high = stats.wilson(351, 360)  # 97.5 %: about +-1.6 points, not the 0.28 points one image weighs
    assert low == pytest.approx(95.3, abs=0.1) and high == pytest.approx(98.7, abs=0.1)
    assert stats.wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-9)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="one entry per input; got sizes 3, 2, 3"):
        stats.mcnemar([0, 1, 1], [0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="nothing to compare"):
        stats.mcnemar([], [], [])
    with pytest.raises(ValueError, match="at least 2 values"):
        stats.seed_interval([97.0])
    with pytest.raises(ValueError, match="share must be in"):
        stats.kept([0], [0], [0], share=95)
    with pytest.raises(ValueError, match="a share"):
        stats.minimal_detectable_difference(360, 97.5)


def test_within_reads_the_low_end_of_the_interval():
    y, a, b = _pair(2000, 0.90, 0.91)
    r = stats.compare(y, a, b, ("small", "large"))
    assert r.within(-r.interval[0]) and not r.within(-r.interval[0] - 0.01)


def test_real_models_on_a_real_test_split(digits):
    small, large = ll.zoo.pretrained("digits-small"), ll.zoo.pretrained("digits-large")
    y, ps = ll.metrics.predictions(small, digits.test)
    _, pl = ll.metrics.predictions(large, digits.test)
    r = stats.compare_models({"digits-large": large, "digits-small": small}, digits)
    assert r.n == len(y) == 360 and r.names == ("digits-large", "digits-small")
    assert r.only_a + r.only_b == int(np.sum((pl == y) != (ps == y)))
    assert r.scores == pytest.approx((100 * np.mean(pl == y), 100 * np.mean(ps == y)))
    assert r.to_dict()["verdict"] == r.verdict
    with pytest.raises(ValueError, match="exactly two models; got 1"):
        stats.compare_models({"digits-small": small}, digits)

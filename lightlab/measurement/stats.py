"""Is A really better than B? Paired tests on one test set, intervals over seeds, and what a test set can resolve.

Two models scored on the same 360 test images differ by one image at 0.28 points, and the accuracy of either one is
uncertain by about ±1.6 points (95 %). A claim "A beats B" is made here only when a paired test says so:

- ``mcnemar``: the exact test for two classifiers on the same inputs. Only the inputs where they disagree carry
  information: if A and B were equally good, "A right, B wrong" and "B right, A wrong" would be a fair coin.
- ``compare``: the same result for any metric (McNemar for accuracy, a paired bootstrap otherwise).
- ``kept``: does the small model keep at least a share (95 %) of the large one's metric? Shown only when the whole
  95 % interval of the ratio clears the share, otherwise "not shown at n = ...".
- ``seed_interval``: the mean over training seeds and its 95 % Student-t interval.
- ``minimal_detectable_difference``: the smallest accuracy difference a test set of n inputs detects 80 % of the time.
- ``wilson``: the 95 % interval of one accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from lightlab.measurement import metrics

ALPHA = 0.05
ROUNDS = 2000  # bootstrap resamples: the interval's ends move by < 0.1 point between seeds at n = 360


@dataclass(frozen=True)
class Paired:
    """Two models on the same inputs: scores in points, the paired test and the interval of the difference."""

    names: tuple[str, str]
    metric: str
    n: int
    scores: tuple[float, float]  # points (percent)
    p_value: float
    interval: tuple[float, float]  # 95 % interval of scores[0] - scores[1], points
    test: str
    only_a: int | None = None  # inputs A got right and B wrong (McNemar only)
    only_b: int | None = None

    @property
    def difference(self) -> float:
        """Return the first model's score minus the second's, in points."""
        return self.scores[0] - self.scores[1]

    @property
    def significant(self) -> bool:
        """Return True when the test rejects "equally good" at the 5 % level."""
        return self.p_value < ALPHA

    @property
    def better(self) -> str | None:
        """Return the name of the model the test says is better, or None (no detectable difference)."""
        if not self.significant or self.difference == 0:
            return None
        return self.names[0] if self.difference > 0 else self.names[1]

    @property
    def verdict(self) -> str:
        """Return the claim the data support, with its test, p-value and n."""
        how = f"{self.difference:+.2f} points, p = {self.p_value:.2g}, {self.test}, n = {self.n}"
        if self.better is None:
            return f"no detectable difference at n = {self.n} ({how})"
        return f"{self.better} is better ({how})"

    def within(self, points: float) -> bool:
        """Return True when the first model is shown to lose at most ``points``: its interval's low end >= -points."""
        return self.interval[0] >= -points

    def to_dict(self) -> dict:
        """Return the fields and the verdict as plain JSON-ready values."""
        return {**asdict(self), "difference": self.difference, "verdict": self.verdict}


@dataclass(frozen=True)
class Kept:
    """The share of a reference model's metric that a model keeps, with its 95 % paired bootstrap interval."""

    names: tuple[str, str]
    metric: str
    n: int
    ratio: float
    interval: tuple[float, float]
    share: float

    @property
    def holds(self) -> bool:
        """Return True when the whole interval clears the share: the claim is shown, not just estimated."""
        return self.interval[0] >= self.share

    @property
    def verdict(self) -> str:
        """Return "keeps >= share" when shown, else what the interval allows."""
        low, high = self.interval
        what = f"{self.ratio:.3f} of {self.names[1]}'s {self.metric}, 95 % interval [{low:.3f}, {high:.3f}]"
        if self.holds:
            return f"{self.names[0]} keeps >= {self.share:.0%}: {what}, n = {self.n}"
        return f"not shown at n = {self.n} that {self.names[0]} keeps >= {self.share:.0%}: {what}"

    def to_dict(self) -> dict:
        """Return the fields and the verdict as plain JSON-ready values."""
        return {**asdict(self), "holds": self.holds, "verdict": self.verdict}


def _check(y_true, *preds) -> tuple[np.ndarray, ...]:
    arrays = [np.asarray(a).ravel() for a in (y_true, *preds)]
    if len({a.size for a in arrays}) != 1:
        sizes = ", ".join(str(a.size) for a in arrays)
        raise ValueError(f"labels and predictions must have one entry per input; got sizes {sizes}")
    if arrays[0].size == 0:
        raise ValueError("there is nothing to compare: no inputs were given; evaluate both models on the test split")
    return tuple(arrays)


def binomial_two_sided(k: int, n: int) -> float:
    """Return the exact two-sided p-value of ``k`` or fewer heads (or as few tails) in ``n`` fair coin flips."""
    if n == 0:
        return 1.0
    k = min(k, n - k)
    tail = sum(math.comb(n, i) for i in range(k + 1))  # exact integers: no underflow at large n
    return min(1.0, 2 * tail / 2**n)


def mcnemar(y_true, pred_a, pred_b, names: tuple[str, str] = ("A", "B"), seed: int = 0) -> Paired:
    """Return the exact McNemar test of two classifiers' accuracy on the same inputs, with the 95 % interval."""
    y, a, b = _check(y_true, pred_a, pred_b)
    return mcnemar_correct(a == y, b == y, names, seed)


def mcnemar_correct(right_a, right_b, names: tuple[str, str] = ("A", "B"), seed: int = 0) -> Paired:
    """Return ``mcnemar`` from two boolean arrays: which inputs each model got right (the same inputs, in order)."""
    right_a, right_b = (np.asarray(r, dtype=bool) for r in _check(right_a, right_b))
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    n = right_a.size
    # The difference of accuracies is (only_a - only_b) / n: resampling inputs = resampling the three cell counts.
    cells = np.array([only_a, only_b, n - only_a - only_b]) / n
    draws = np.random.default_rng(seed).multinomial(n, cells, size=ROUNDS)
    diffs = 100 * (draws[:, 0] - draws[:, 1]) / n
    return Paired(
        names=tuple(names),
        metric="accuracy",
        n=n,
        scores=(100 * float(right_a.mean()), 100 * float(right_b.mean())),
        p_value=binomial_two_sided(only_a, only_a + only_b),
        interval=_percentiles(diffs),
        test="exact McNemar",
        only_a=only_a,
        only_b=only_b,
    )


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def _scorer(metric: str, classes: int):
    return lambda y, p: 100 * metrics.score(metric, metrics.confusion(y, p, classes))


def _resamples(n: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(ROUNDS):  # one resample at a time: ROUNDS x n indices at once is 160 MB at n = 10,000
        yield rng.integers(0, n, size=n)


def compare(
    y_true, pred_a, pred_b, names: tuple[str, str] = ("A", "B"), metric: str = "accuracy", seed: int = 0
) -> Paired:
    """Return the paired comparison of two classifiers on ``metric``: McNemar for accuracy, else a paired bootstrap."""
    if metric == "accuracy":
        return mcnemar(y_true, pred_a, pred_b, names, seed)
    y, a, b = _check(y_true, pred_a, pred_b)
    score = _scorer(metric, int(max(y.max(), a.max(), b.max())) + 1)
    diffs = np.array([score(y[i], a[i]) - score(y[i], b[i]) for i in _resamples(y.size, seed)])
    # Two-sided bootstrap p-value: how often a resample's difference falls on the other side of zero.
    p = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return Paired(
        tuple(names), metric, y.size, (score(y, a), score(y, b)), float(p), _percentiles(diffs), "paired bootstrap"
    )


def compare_models(models: dict, task, split: str = "test", metric: str | None = None, seed: int = 0) -> Paired:
    """Return ``compare`` of the two models in ``models`` (name -> model) on ``task``'s split, in the task's metric."""
    if len(models) != 2:
        raise ValueError(f"compare_models compares exactly two models; got {len(models)}: {', '.join(models)}")
    (name_a, a), (name_b, b) = models.items()
    y, pred_a = metrics.predictions(a, task.loader(split, shuffle=False))  # same inputs, same order: paired
    _, pred_b = metrics.predictions(b, task.loader(split, shuffle=False))
    return compare(y, pred_a, pred_b, (name_a, name_b), metric or task.metric, seed)


def kept(
    y_true,
    pred_model,
    pred_reference,
    share: float = 0.95,
    names: tuple[str, str] = ("model", "reference"),
    metric: str = "accuracy",
    seed: int = 0,
) -> Kept:
    """Return the ratio of ``metric`` (model / reference) with its 95 % paired bootstrap interval against ``share``."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], e.g. 0.95 for 'keeps 95 %'; got {share}")
    y, a, b = _check(y_true, pred_model, pred_reference)
    score = _scorer(metric, int(max(y.max(), a.max(), b.max())) + 1)
    ratios = [score(y[i], a[i]) / max(score(y[i], b[i]), 1e-12) for i in _resamples(y.size, seed)]
    ratio = score(y, a) / max(score(y, b), 1e-12)
    return Kept(tuple(names), metric, y.size, float(ratio), _percentiles(np.array(ratios)), share)


@dataclass(frozen=True)
class Interval:
    """A mean over repeats (seeds) and its 95 % Student-t interval."""

    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} (95 % interval {self.low:.2f} .. {self.high:.2f}, {self.n} seeds)"


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Return the mean of ``values`` (one per seed) and its Student-t confidence interval."""
    from scipy.stats import t

    x = np.asarray(values, dtype=float)
    if x.size < 2:
        raise ValueError(f"an interval over seeds needs at least 2 values, got {x.size}: train with more seeds")
    half = t.ppf(0.5 + confidence / 2, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return Interval(float(x.mean()), float(x.mean() - half), float(x.mean() + half), int(x.size))


def minimal_detectable_difference(
    n: int, accuracy: float = 0.9, alpha: float = ALPHA, power: float = 0.8, discordant: float | None = None
) -> float:
    """Return the smallest accuracy difference (points) a test set of ``n`` inputs detects with ``power``.

    Without ``discordant`` it assumes two independent samples at ``accuracy`` (conservative); with it (the share of
    inputs the two models disagree on), it uses McNemar's normal approximation, which pairing makes smaller.
    """
    if n < 1 or not 0 < accuracy < 1:
        raise ValueError(f"need n >= 1 and 0 < accuracy < 1 (a share, e.g. 0.9); got n={n}, accuracy={accuracy}")
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    variance = discordant if discordant is not None else 2 * accuracy * (1 - accuracy)
    return 100 * z * math.sqrt(variance / n)


def wilson(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval of ``correct`` / ``n``, in points."""
    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n >= 1; got correct={correct}, n={n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)

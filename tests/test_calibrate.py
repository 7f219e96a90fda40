import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.techniques import calibrate


def reference_entropy(values: np.ndarray, bits: int = 8, bins: int = 2048) -> float:
    """TensorRT's search written the slow, literal way: loops, np.array_split, every candidate threshold."""
    magnitudes = np.abs(values)
    levels = 2 ** (bits - 1) if values.min() < 0 else 2**bits
    hist, edges = np.histogram(magnitudes, bins=bins, range=(0, magnitudes.max()))
    hist = hist.astype(float)
    hist[0] = hist[1]
    best, best_kl = bins, np.inf
    for i in range(levels, bins + 1):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        q = np.zeros(i)
        start = 0
        for chunk in np.array_split(hist[:i], levels):
            nonzero = chunk > 0
            if nonzero.any():
                q[start : start + len(chunk)][nonzero] = chunk.sum() / nonzero.sum()
            start += len(chunk)
        p, q = p / p.sum(), q / max(q.sum(), 1e-30)
        kl = np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / np.maximum(q, 1e-12)), 0))
        if kl <= best_kl:
            best, best_kl = i, kl
    return float(edges[best])


def test_minmax_and_percentile_read_the_data():
    x = torch.arange(10001, dtype=torch.float32) - 5000  # -5000 .. 5000, one value each
    assert calibrate.minmax_range(x) == (-5000.0, 5000.0)
    lo, hi = calibrate.percentile_range(x, 99.9)
    assert lo == pytest.approx(-4990) and hi == pytest.approx(4990)
    assert calibrate.percentile_range(x, 100) == (-5000.0, 5000.0)


def test_entropy_matches_a_literal_reference_and_clips_a_long_tail():
    rng = np.random.default_rng(0)
    relu_like = np.maximum(rng.laplace(size=20000), 0)  # half exact zeros, as after a ReLU
    relu_like[:3] = 40.0  # three outliers
    signed = rng.standard_normal(5000)
    for values, bits in ((relu_like, 8), (relu_like, 6), (signed, 8)):
        lo, hi = calibrate.entropy_range(values, bits=bits, bins=512)
        assert hi == pytest.approx(reference_entropy(values, bits, bins=512))
        assert lo == (-hi if values.min() < 0 else 0.0)
    lo, hi = calibrate.entropy_range(relu_like)
    assert 5 < hi < 15  # well inside the max of 40: the tail is clipped
    # Uniform data has no tail to clip: the search keeps (nearly) the whole range.
    assert calibrate.entropy_range(rng.uniform(0, 1, 20000))[1] > 0.95


def test_entropy_on_discrete_values_keeps_the_whole_range_on_ties():
    # 17 grey levels, as the digits' pixels: clipping at the first level and keeping all of them both have KL 0 at
    # 8 bits; the wider range must win the tie, else every pixel above 1/16 would be clipped.
    x = np.repeat(np.arange(17) / 16, 100)
    assert calibrate.entropy_range(x, bits=8) == (0.0, 1.0)


def test_kl_divergence_is_zero_for_the_same_shape_and_grows_with_the_difference():
    p = np.array([1.0, 2.0, 3.0])
    assert calibrate.kl_divergence(p, 2 * p) == pytest.approx(0.0)
    assert calibrate.kl_divergence(p, np.array([3.0, 2.0, 1.0])) > calibrate.kl_divergence(p, np.array([1.0, 2.5, 2.5]))


def test_observe_records_the_named_outputs(digits, zoo_models):
    model = zoo_models["small"]
    x = digits.splits["test"].tensors[0][:300]
    seen = calibrate.observe(model, x, ["", "2", "3"], batch=128)
    with torch.inference_mode():
        assert torch.equal(seen[""], x)
        assert torch.allclose(seen["2"], torch.relu(model[1](x.flatten(1))))
        assert torch.allclose(seen["3"], model(x))
    assert not model.training
    with pytest.raises(ValueError, match=r"no module named \['nope'\]"):
        calibrate.observe(model, x, ["nope"])


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="no activation values"):
        calibrate.minmax_range(torch.empty(0))
    with pytest.raises(ValueError, match="NaN or inf"):
        calibrate.entropy_range(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="unknown calibration method 'kl'"):
        calibrate.activation_range(torch.ones(3), "kl")
    with pytest.raises(ValueError, match=r"percent must be in \(50, 100\]"):
        calibrate.percentile_range(torch.ones(3), 30)


def test_the_three_methods_on_a_real_outlier_heavy_input():
    x = ll.load("shuttle").splits["train"].tensors[0][:3000]  # standardized sensors: a few readings beyond 50
    ranges = {m: calibrate.activation_range(x, m) for m in calibrate.METHODS}
    width = {m: hi - lo for m, (lo, hi) in ranges.items()}
    assert width["minmax"] > 3 * width["percentile"] > 3 * width["entropy"] > 3

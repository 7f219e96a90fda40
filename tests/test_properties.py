"""Properties that hold for any input, checked by hypothesis on generated ones (the same ones on every run)."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from lightlab.data.tasks import DataError, Task
from lightlab.techniques import compress, entropy, grids, prune
from lightlab.techniques.quantize import dequantize, kmeans_quantize, linear_quantize

FINITE = st.floats(-1e3, 1e3, allow_nan=False, width=32)
# derandomize: the same examples on every run, like every other seeded number in LightLab.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def weights(min_side: int = 1, max_side: int = 24):
    shapes = st.tuples(st.integers(min_side, max_side), st.integers(min_side, max_side))
    return shapes.flatmap(lambda s: arrays(np.float32, s, elements=FINITE)).map(torch.from_numpy)


@SETTINGS
@given(weights(), st.integers(2, 8), st.booleans(), st.booleans())
def test_rounding_moves_no_weight_by_more_than_half_a_step(w, bits, symmetric, per_channel):
    q, scale, zero_point = linear_quantize(w, bits, symmetric=symmetric, per_channel=per_channel)
    error = (dequantize(q, scale, zero_point) - w).abs()
    assert torch.all(error <= scale / 2 * (1 + 1e-5) + 1e-6)


@SETTINGS
@given(weights(), st.integers(2, 8), st.booleans())
def test_llm_grids_round_to_within_half_a_step(w, bits, symmetric):
    grid = grids.Grid(bits, "channel", symmetric=symmetric)
    codes, scale, offset = grids.quantize(w, grid)
    error = (grids.dequantize(codes, scale, offset, w.shape) - w).abs()
    step = grid.groups(torch.ones_like(w)) * scale[..., None]
    assert torch.all(error <= step.reshape(w.shape) / 2 * (1 + 1e-5) + 1e-6)


@SETTINGS
@given(weights(), st.floats(0, 0.999))
def test_a_pruning_mask_removes_exactly_the_asked_count(w, sparsity):
    mask = prune.magnitude_mask(w, sparsity)
    assert int((~mask).sum()) == round(sparsity * w.numel())
    if mask.any() and (~mask).any():  # every removed weight is no larger than every kept one
        assert w[~mask].abs().max() <= w[mask].abs().min()


@SETTINGS
@given(weights(max_side=40), st.integers(1, 6), st.integers(0, 3))
def test_kmeans_codebooks_are_sorted_and_index_their_nearest_value(w, bits, seed):
    codebook, indices = kmeans_quantize(w, bits, seed=seed)
    assert codebook.shape == (2**bits,) and torch.all(codebook[1:] >= codebook[:-1])
    distance = (w[..., None] - codebook).abs()
    chosen = distance.gather(-1, indices.long()[..., None])[..., 0]
    assert torch.all(chosen <= distance.min(-1).values + 1e-4)


@SETTINGS
@given(st.binary(max_size=3000))
def test_huffman_round_trips_any_bytes(data):
    assert entropy.huffman_decode(entropy.huffman_encode(data)) == data


@SETTINGS
@given(st.integers(1, 8).flatmap(lambda b: st.tuples(st.just(b), st.lists(st.integers(0, 2**b - 1), max_size=500))))
def test_bit_packing_round_trips(case):
    bits, values = case
    packed = entropy.pack_bits(np.array(values, dtype=np.int64), bits)
    assert entropy.unpack_bits(packed, bits, len(values)).tolist() == values


@settings(max_examples=12, deadline=None, derandomize=True)
@given(st.floats(0, 0.95), st.integers(1, 8), st.sampled_from(["huffman", "lzma", "none"]), st.integers(0, 9))
def test_an_lldc_file_restores_exactly_what_it_stored(tmp_path_factory, sparsity, bits, coder, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(8, 12), nn.ReLU(), nn.Linear(12, 3))
    cfg = compress.CompressConfig(sparsity=sparsity, bits=bits, coder=coder)
    folder = tmp_path_factory.mktemp("lldc")
    first = compress.load_compressed(compress.save_compressed(model, cfg, path=folder / "a.lldc").path, model)
    second = compress.load_compressed(compress.save_compressed(first, cfg, path=folder / "b.lldc").path, model)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)  # pruned and shared weights are stored exactly


@SETTINGS
@given(
    st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple),
    st.integers(0, 40),
    st.integers(1, 5),
    st.booleans(),
)
def test_your_own_arrays_become_a_task_or_a_clear_error(shape, samples, classes, mislabel):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, *shape)).astype(np.float32)
    y = rng.integers(0, classes, size=samples) + (classes if mislabel else 0)
    try:
        task = Task.from_arrays(x, y, classes=[f"c{i}" for i in range(classes)])
    except DataError as err:
        assert str(err)  # ours, with its message; anything else fails the test
        return
    assert sum(task.sizes().values()) == samples and task.input_shape == tuple(shape)
    assert not mislabel and len(shape) >= 1

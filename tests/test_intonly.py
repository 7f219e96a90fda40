"""Integer-only arithmetic, bit for bit against ONNX Runtime's own QuantizeLinear, QLinearMatMul and QLinearConv.

How ONNX Runtime requantizes was found by experiment (the tie and large-accumulator tests below pin each step):
M = (sx * sw) / sy in float32, in that order; the int32 accumulator becomes a float32; the product is rounded half
to even; then the zero point is added and the result saturated. Round-half-away (the paper's gemmlowp form), a
float64 M, or another order of the multiplications each give other codes on inputs built to tell them apart.
"""

import numpy as np
import onnxruntime as ort
import pytest
import torch
from onnx import helper, numpy_helper

import lightlab as ll
from lightlab.techniques import intonly as io

RNG = np.random.default_rng(0)
NP = {torch.uint8: np.uint8, torch.int8: np.int8}


def _run(nodes, inputs: dict, constants: dict, output_dtype) -> np.ndarray:
    """Run a graph of ``nodes`` in ONNX Runtime (CPU) with ``inputs`` fed and ``constants`` as initializers."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), None) for k, v in inputs.items()],
        [helper.make_tensor_value_info("y", helper.np_dtype_to_tensor_dtype(np.dtype(output_dtype)), None)],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]


def _grid(p: io.QParams, name: str) -> dict:
    return {f"{name}_scale": p.scale.numpy(), f"{name}_zp": p.zero_point.numpy().astype(NP[p.dtype])}


def ort_qmatmul(a, a_p, b, b_p, y_p) -> np.ndarray:
    names = ["a", "a_scale", "a_zp", "b", "b_scale", "b_zp", "y_scale", "y_zp"]
    constants = {**_grid(a_p, "a"), "b": b.numpy(), **_grid(b_p, "b"), **_grid(y_p, "y")}
    return _run([helper.make_node("QLinearMatMul", names, ["y"])], {"a": a.numpy()}, constants, NP[y_p.dtype])


def ort_qconv(x, x_p, w, w_p, y_p, bias=None, stride=1, padding=0, groups=1) -> np.ndarray:
    names = ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp"] + (["B"] if bias is not None else [])
    constants = {**_grid(x_p, "x"), "w": w.numpy(), **_grid(w_p, "w"), **_grid(y_p, "y")}
    if bias is not None:
        constants["B"] = bias.numpy().astype(np.int32)
    node = helper.make_node("QLinearConv", names, ["y"], strides=[stride] * 2, pads=[padding] * 4, group=groups)
    return _run([node], {"x": x.numpy()}, constants, NP[y_p.dtype])


def _random_grid(dtype, channels=None, weight=False) -> io.QParams:
    low, high = (-128, 127) if dtype == torch.int8 else (0, 255)
    shape = (channels,) if channels else ()
    zero = np.zeros(shape) if weight and dtype == torch.int8 else RNG.integers(low, high + 1, shape)
    return io.qparams(RNG.uniform(0.002, 0.05, shape), zero, dtype)


def _codes(shape, dtype) -> torch.Tensor:
    low, high = (-128, 127) if dtype == torch.int8 else (0, 255)
    return torch.from_numpy(RNG.integers(low, high + 1, shape).astype(NP[dtype]))


def test_quantize_is_onnx_quantize_linear_bit_for_bit():
    for dtype in (torch.uint8, torch.int8):
        p = io.qparams(0.0371, -3 if dtype == torch.int8 else 131, dtype)
        x = torch.from_numpy((RNG.standard_normal(5000) * 4).astype(np.float32))
        x[:500] = (torch.arange(-250, 250) + 0.5) * p.scale  # exact ties: round half to even
        want = _run([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])], {"x": x.numpy()},
                    {"s": p.scale.numpy(), "z": p.zero_point.numpy().astype(NP[dtype])}, NP[dtype])  # fmt: skip
        assert np.array_equal(io.quantize(x, p).numpy(), want)


@pytest.mark.parametrize(
    "a_dtype, b_dtype", [(torch.uint8, torch.uint8), (torch.uint8, torch.int8), (torch.int8, torch.int8)]
)
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 33, 5), (16, 600, 24), (3, 2048, 10)])
def test_qlinear_matmul_is_bit_exact_on_random_codes(a_dtype, b_dtype, shape):
    m, k, n = shape
    for per_column in (False, True):
        a, b = _codes((m, k), a_dtype), _codes((k, n), b_dtype)
        a_p, b_p = _random_grid(a_dtype), _random_grid(b_dtype, n if per_column else None, weight=True)
        # An output scale that keeps most codes inside the grid (saturation is tested too, at the edges).
        y_p = io.qparams(float(a_p.scale * b_p.scale.max()) * 40 * k**0.5, int(RNG.integers(0, 100)), a_dtype)
        got = io.qlinear_matmul(a, a_p, b, b_p, y_p)
        assert got.dtype == a_dtype and np.array_equal(got.numpy(), ort_qmatmul(a, a_p, b, b_p, y_p))


@pytest.mark.parametrize(
    "x_dtype, w_dtype", [(torch.uint8, torch.int8), (torch.uint8, torch.uint8), (torch.int8, torch.int8)]
)
@pytest.mark.parametrize(
    "channels, out, kernel, stride, padding, groups",
    [(1, 4, 3, 1, 1, 1), (3, 8, 3, 2, 0, 1), (6, 12, 5, 1, 2, 3), (8, 8, 3, 1, 1, 8), (4, 16, 1, 1, 0, 1)],
)
def test_qlinear_conv_is_bit_exact_on_random_codes(x_dtype, w_dtype, channels, out, kernel, stride, padding, groups):
    x = _codes((2, channels, 9, 9), x_dtype)
    w = _codes((out, channels // groups, kernel, kernel), w_dtype)
    x_p, w_p = _random_grid(x_dtype), _random_grid(w_dtype, out, weight=True)
    scale = float(x_p.scale * w_p.scale.max()) * 30 * kernel * (channels // groups) ** 0.5
    y_p = io.qparams(scale, int(RNG.integers(0, 100)), x_dtype)
    bias = torch.from_numpy(RNG.integers(-20000, 20000, out)).to(torch.int32)
    for b in (None, bias):
        got = io.qlinear_conv(x, x_p, w, w_p, y_p, b, stride, padding, groups)
        assert np.array_equal(got.numpy(), ort_qconv(x, x_p, w, w_p, y_p, b, stride, padding, groups))


def _row_summing_to(total: int) -> torch.Tensor:
    """Return uint8 codes (zero point 0) whose sum is ``total``: with weights of 1 the accumulator is ``total``."""
    k = total // 255 + 1
    codes = torch.full((1, k), 255, dtype=torch.int64)
    excess, i = k * 255 - total, 0
    while excess:
        step = min(excess, 255)
        codes[0, i] -= step
        excess, i = excess - step, i + 1
    return codes.to(torch.uint8)


def _one_accumulator(total: int, m_parts: tuple[float, float, float]) -> tuple[int, int, int]:
    """Return (ours, ONNX Runtime's, round-half-away's) code for one accumulator ``total`` with scales sx, sw, sy."""
    a = _row_summing_to(total)
    a_p, b_p, y_p = (
        io.qparams(s, 0, dt) for s, dt in zip(m_parts, (torch.uint8, torch.int8, torch.uint8), strict=True)
    )
    b = torch.ones(a.shape[1], 1, dtype=torch.int8)
    ours = int(io.qlinear_matmul(a, a_p, b, b_p, y_p)[0, 0])
    theirs = int(ort_qmatmul(a, a_p, b, b_p, y_p)[0, 0])
    real = total * float(io.multiplier(a_p, b_p, y_p))
    return ours, theirs, int(np.sign(real) * np.floor(abs(real) + 0.5))


def test_requantization_rounds_half_to_even_like_onnx_runtime():
    # M = 2**-4 * 2**-4 / 2**-7 = 0.5: every odd accumulator is an exact tie.
    for total, even, half_away in ((1, 0, 1), (3, 2, 2), (5, 2, 3), (7, 4, 4)):
        assert _one_accumulator(total, (2**-4, 2**-4, 2**-7)) == (even, even, half_away)


def test_requantization_converts_the_int32_to_float32_first():
    # 64.5 * 2**20 + 3 is not a float32: it becomes 64.5 * 2**20 exactly, a tie that rounds to 64 (float64: 65).
    total = int(64.5 * 2**20) + 3
    ours, theirs, _ = _one_accumulator(total, (2**-4, 2**-4, 2**12))
    assert ours == theirs == 64 and round(total / 2**20) == 65


def test_the_multiplier_is_sx_times_sw_over_sy_in_float32():
    rng = np.random.default_rng(5)
    tried = 0
    while tried < 4:  # scales whose multiplier, computed in another order, rounds some accumulator differently
        sx, sw, sy = (
            np.float32(v) for v in (rng.uniform(0.001, 0.05), rng.uniform(0.001, 0.05), rng.uniform(1e-4, 0.01))
        )
        other = np.float32(sx * np.float32(sw / sy))
        ours_m = np.float32(np.float32(sx * sw) / sy)
        totals = np.arange(1, 40000)
        differ = np.nonzero(np.rint(totals.astype(np.float32) * other) != np.rint(totals.astype(np.float32) * ours_m))[
            0
        ]
        differ = [t for t in totals[differ] if np.rint(t * ours_m) < 250]
        if differ:
            ours, theirs, _ = _one_accumulator(int(differ[0]), (sx, sw, sy))
            assert ours == theirs == int(np.rint(np.float32(differ[0]) * ours_m))
            tried += 1


def test_int32_overflow_is_refused_not_wrapped():
    a = torch.full((1, 70000), 255, dtype=torch.uint8)  # 70,000 x 255 x 127 > 2**31
    b = torch.full((70000, 1), 127, dtype=torch.int8)
    p = io.qparams(0.01, 0, torch.uint8)
    with pytest.raises(OverflowError, match="int32 accumulator overflows"):
        io.qlinear_matmul(a, p, b, io.qparams(0.01, 0, torch.int8), p)
    with pytest.raises(ValueError, match="integer codes"):
        io.qlinear_matmul(a.float(), p, b, p, p)


@pytest.fixture(scope="module")
def int_models(digits, zoo_models):
    return {name: io.integer_only(model, task=digits) for name, model in zoo_models.items()}


def test_a_real_linear_layer_with_a_calibrated_scale_is_bit_exact(digits, zoo_models, int_models):
    small, layer = zoo_models["small"], int_models["small"].layers[1]  # layers[0] is the Flatten
    x = io.quantize(digits.splits["test"].tensors[0].flatten(1), layer.x_p)  # calibrated on the train split
    ours = layer(x)  # the Linear with its bias and the fused ReLU
    # ONNX's QLinearMatMul has no bias: compare the product alone, then the whole layer as a 1x1 QLinearConv.
    w = layer.weight.T.contiguous()
    assert np.array_equal(io.qlinear_matmul(x, layer.x_p, w, layer.w_p, layer.y_p).numpy(),
                          ort_qmatmul(x, layer.x_p, w, layer.w_p, layer.y_p))  # fmt: skip
    conv = ort_qconv(x[:, :, None, None], layer.x_p, layer.weight[:, :, None, None], layer.w_p, layer.y_p, layer.bias)
    assert np.array_equal(ours.numpy(), conv[:, :, 0, 0])
    # The calibrated grid is real: the float32 layer's output, rounded to it, is what the integers give to within
    # the rounding of the input and the weights (measured: 80 % of codes equal, none more than 2 codes apart).
    with torch.inference_mode():
        real = torch.relu(small[1](digits.splits["test"].tensors[0].flatten(1)))
    gap = (io.quantize(real, layer.y_p).long() - ours.long()).abs()
    assert gap.max() <= 3 and (gap == 0).float().mean() > 0.75


def test_real_conv_layers_are_bit_exact(digits, int_models):
    model = int_models["large"]
    q = io.quantize(digits.splits["test"].tensors[0][:64], model.input_p)
    for layer in model.layers[:2]:  # Conv(1 -> 64) + ReLU, Conv(64 -> 128) + ReLU, on 3 x 3 kernels with padding
        want = ort_qconv(q, layer.x_p, layer.weight, layer.w_p, layer.y_p, layer.bias, *layer.args)
        q = layer(q)
        assert np.array_equal(q.numpy(), want)


def test_the_whole_integer_model_matches_an_onnx_runtime_graph(digits, int_models):
    model = int_models["large"]
    conv1, conv2, _pool, _flat, fc1, fc2 = model.layers
    p = {"in": model.input_p, "c1": conv1.y_p, "c2": conv2.y_p, "f1": fc1.y_p, "out": fc2.y_p}
    constants = {}
    for name, grid in p.items():
        constants |= _grid(grid, name)
    for name, layer in (("c1", conv1), ("c2", conv2), ("f1", fc1), ("out", fc2)):
        constants |= {
            f"{name}_w": layer.weight.numpy(),
            **_grid(layer.w_p, f"{name}_w"),
            f"{name}_b": layer.bias.numpy(),
        }
        if not layer.conv:
            constants[f"{name}_w"] = layer.weight.numpy()[:, :, None, None]  # a Linear is a 1x1 convolution
    constants |= {"as_image": np.array([0, -1, 1, 1]), "as_rows": np.array([0, -1])}

    def qconv(x, before, name, **attrs):
        ins = [x, f"{before}_scale", f"{before}_zp", f"{name}_w", f"{name}_w_scale", f"{name}_w_zp"]
        return helper.make_node("QLinearConv", [*ins, f"{name}_scale", f"{name}_zp", f"{name}_b"], [name], **attrs)

    nodes = [
        helper.make_node("QuantizeLinear", ["x", "in_scale", "in_zp"], ["q"]),
        qconv("q", "in", "c1", pads=[1] * 4),
        qconv("c1", "c1", "c2", pads=[1] * 4),
        helper.make_node("MaxPool", ["c2"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pooled", "as_image"], ["flat"]),
        qconv("flat", "c2", "f1"),
        qconv("f1", "f1", "out"),
        helper.make_node("Reshape", ["out", "as_rows"], ["codes"]),
        helper.make_node("DequantizeLinear", ["codes", "out_scale", "out_zp"], ["y"]),
    ]
    x = digits.splits["test"].tensors[0]
    want = _run(nodes, {"x": x.numpy()}, constants, np.float32)
    with torch.inference_mode():
        assert np.array_equal(model(x).numpy(), want)


def test_integer_only_keeps_float32_accuracy_and_is_four_times_smaller(digits, zoo_models, int_models):
    y = digits.splits["test"].tensors[1].numpy()
    for name, model in zoo_models.items():
        _, fp32 = ll.metrics.predictions(model, digits.loader("test"))
        _, int8 = ll.metrics.predictions(int_models[name], digits.loader("test"))
        paired = ll.stats.compare(y, int8, fp32, names=("int8", "fp32"))
        assert abs(paired.difference) <= 1.5 and paired.better is None, paired.verdict
    large, small = ll.measure.serialized_size(zoo_models["large"]), ll.measure.serialized_size(int_models["large"])
    assert 0.24 < small / large < 0.27  # int8 weights, int32 biases, a float32 scale per channel
    assert ll.measure.count_params(int_models["large"]) == ll.measure.count_params(zoo_models["large"])


def test_fixed_point_multiplier_is_the_float_one_and_rounds_within_one_code(digits, int_models):
    m = torch.tensor([0.3, 1e-5, 0.999999, 0.000123, 1.7], dtype=torch.float32)
    m0, n = io.fixed_point(m)
    assert ((m0 >= 2**30) & (m0 < 2**31)).all()
    assert torch.equal(m0.double() * 2.0 ** -(31 + n).double(), m.double())  # exact: a float32 has 24 bits
    model = int_models["large"]
    q = io.quantize(digits.splits["test"].tensors[0][:128], model.input_p)
    differ = total = 0
    for layer in model.layers:
        if isinstance(layer, io.QLayer):
            acc = io.conv_accumulators(q, layer.x_p, layer.weight, layer.w_p, layer.bias, *layer.args) if layer.conv \
                else io.matmul_accumulators(q, layer.x_p, layer.weight.T, layer.w_p, layer.bias)  # fmt: skip
            mult = io._channels(io.multiplier(layer.x_p, layer.w_p, layer.y_p), acc.dim())
            exact, fixed = (
                io.requantize(acc, mult, layer.y_p),
                io.requantize_fixed(acc, *io.fixed_point(mult), layer.y_p),
            )
            gap = (exact.long() - fixed.long()).abs()
            assert gap.max() <= 1
            differ, total = differ + int((gap > 0).sum()), total + gap.numel()
        q = layer(q)
    # Measured on the whole test split: 0.03 % to 0.07 % of codes per layer, and not one prediction changes. They differ
    # where acc * M is a tie or within a float32 rounding of one: half to even versus away from zero.
    assert 0 < differ / total < 0.001


def test_refusals_name_the_problem(digits):
    with pytest.raises(ValueError, match="takes an nn.Sequential"):
        io.integer_only(torch.nn.Linear(64, 10), task=digits)
    bn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    with pytest.raises(ValueError, match=r"'1' \(BatchNorm2d\)"):
        io.integer_only(bn, task=digits)
    dilated = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, dilation=2))
    with pytest.raises(ValueError, match="dilation"):
        io.integer_only(dilated, task=digits)
    with pytest.raises(ValueError, match="calibration must be one of minmax, percentile, entropy"):
        io.IntOnlyConfig(calibration="kl")
    with pytest.raises(ValueError, match="2 to 8"):
        io.IntOnlyConfig(bits=16)
    with pytest.raises(ValueError, match="scale must be > 0"):
        io.qparams(0.0)


def test_calibration_matters_on_an_outlier_heavy_input():
    shuttle = ll.load("shuttle")  # standardized sensor readings: most within +-3, a few beyond 50
    report = io.compare_calibrations(ll.zoo.pretrained("shuttle-small"), shuttle, calibration_size=3000)
    steps = {m: report.value(m, "input_step") for m in report.models() if m != "float32"}
    assert steps["int8 minmax"] > 3 * steps["int8 percentile 99.99 %"] > 3 * steps["int8 entropy"]
    entropy = next(r for r in report.rows if r["model"] == "int8 entropy" and r["metric"] == shuttle.metric)
    assert entropy["value"] > report.value("int8 minmax", shuttle.metric)
    assert entropy["note"].startswith("int8 entropy is better")

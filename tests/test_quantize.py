import onnx
import pytest
import torch
from _privacy import local_paths

import lightlab as ll
from lightlab.techniques.quantize import QatConfig, QuantConfig, dequantize, kmeans_quantize, linear_quantize

W = torch.tensor([[-1.0, -0.5, 0.0, 0.25], [0.1, 0.2, 0.3, 2.0]])


def test_symmetric_per_tensor_grid():
    q, scale, zero_point = linear_quantize(W, 8)
    assert q.dtype == torch.int8 and scale.shape == () and zero_point.item() == 0
    assert scale.item() == pytest.approx(2.0 / 127)
    assert q.max().item() == 127 and q.min().item() == -64
    assert (dequantize(q, scale, zero_point) - W).abs().max() <= scale / 2 + 1e-7


def test_asymmetric_per_channel_grid_keeps_zero_exact():
    q, scale, zero_point = linear_quantize(W, 4, symmetric=False, per_channel=True)
    assert q.dtype == torch.uint8 and scale.shape == (2, 1) and zero_point.shape == (2, 1)
    assert scale[0].item() == pytest.approx(1.25 / 15)  # row 0 spans [-1, 0.25]
    assert scale[1].item() == pytest.approx(2.0 / 15)  # row 1 spans [0, 2] (range stretched to include 0)
    assert int(q.min()) >= 0 and int(q.max()) <= 15
    assert dequantize(q, scale, zero_point)[0, 2].item() == 0.0
    assert (dequantize(q, scale, zero_point) - W).abs().max() <= scale.max() / 2 + 1e-6


def test_per_channel_is_more_accurate_on_unequal_rows():
    w = torch.randn(16, 64, generator=torch.Generator().manual_seed(0)) * torch.logspace(-2, 0, 16)[:, None]
    errors = [(dequantize(*linear_quantize(w, 4, per_channel=pc)) - w).pow(2).mean() for pc in (False, True)]
    assert errors[1] < errors[0] / 2


def test_one_bit_is_sign_times_mean_magnitude():
    q, scale, zero_point = linear_quantize(W, 1)
    assert set(q.flatten().tolist()) == {-1, 1}
    assert scale.item() == pytest.approx(W.abs().mean().item())
    assert dequantize(q, scale, zero_point)[1, 3].item() == pytest.approx(W.abs().mean().item())


@pytest.mark.parametrize("bits", [0, 17, 2.5, True])
def test_bits_outside_1_to_16_are_refused(bits):
    with pytest.raises(ValueError, match="1 to 16"):
        linear_quantize(W, bits)
    with pytest.raises(ValueError, match="1 to 16"):
        kmeans_quantize(W, bits)


def test_kmeans_codebook_has_2_to_the_bits_sorted_entries():
    w = ll.zoo.pretrained("digits-large")[9].weight
    codebook, indices = kmeans_quantize(w, 3)
    assert codebook.shape == (8,) and indices.shape == w.shape and indices.dtype == torch.uint8
    assert torch.all(codebook[1:] >= codebook[:-1])
    assert codebook.min() >= w.min() and codebook.max() <= w.max()
    err_kmeans = (codebook[indices.long()] - w).pow(2).mean()
    err_linear = (dequantize(*linear_quantize(w, 3, symmetric=False)) - w).pow(2).mean()
    assert err_kmeans < err_linear  # the centroids follow the bell-shaped weights; a uniform grid cannot
    again = kmeans_quantize(w, 3, seed=0)
    assert torch.equal(again[0], codebook) and torch.equal(again[1], indices)


def test_kmeans_recovers_exact_clusters():
    w = torch.tensor([-1.0, -1.0, 0.5, 0.5, 0.5, 2.0])
    codebook, indices = kmeans_quantize(w, 2)
    assert torch.equal(codebook[indices.long()], w)


def test_kmeans_16_bits_uses_int32_indices():
    codebook, indices = kmeans_quantize(W, 16)
    assert codebook.shape == (65536,) and indices.dtype == torch.int32


def test_config_validation_names_the_fix():
    with pytest.raises(ValueError, match="valid: 'fake', 'onnxruntime', 'torchao'"):
        QuantConfig(backend="tensorrt")
    with pytest.raises(ValueError, match="bits must be 8"):
        QuantConfig(backend="onnxruntime", bits=4)
    with pytest.raises(ValueError, match="per_channel"):
        QuantConfig(scheme="kmeans", per_channel=True)
    # per_channel=None means the scheme's usual choice: derived, never written back into the frozen config
    assert QuantConfig(scheme="kmeans").per_channel is None and QuantConfig().per_channel is None
    assert QuantConfig(scheme="kmeans").channelwise is False and QuantConfig().channelwise is True
    assert QuantConfig(per_channel=False).grid_label == "symmetric, per-tensor"
    with pytest.raises(ValueError, match="1 to 16"):
        QuantConfig(bits=17)
    with pytest.raises(AttributeError):
        QuantConfig().bits = 4


def test_qat_config_names_the_field():
    with pytest.raises(ValueError, match="scheme='kmeans' does not apply"):
        QatConfig(scheme="kmeans")
    with pytest.raises(ValueError, match="1 to 16"):
        QatConfig(bits=0)
    with pytest.raises(ValueError, match="epochs must be None.*got 0"):
        QatConfig(epochs=0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        QatConfig(lr=-1.0)
    cfg = QatConfig(bits=3, per_channel=False)
    assert cfg.grid == QuantConfig(bits=3, per_channel=False) and cfg.n_epochs == 10  # quick mode's default


def test_fake_quantize_returns_a_new_model_on_the_grid_but_not_smaller(digits, zoo_models):
    small = zoo_models["small"]
    before = small[1].weight.detach().clone()
    fake = ll.quantize.fake_quantize(small, QuantConfig(bits=3))
    assert torch.equal(small[1].weight, before)  # the input is untouched
    assert max(len(row.unique()) for row in fake[1].weight) <= 7  # symmetric 3-bit: codes -3..3
    assert ll.measure.serialized_size(fake) == ll.measure.serialized_size(small)  # float32 all the same
    assert ll.train.evaluate(fake, digits) >= ll.train.evaluate(small, digits) - 0.08


def test_kmeans_model_has_2_to_the_bits_values_per_layer(zoo_models):
    fake = ll.quantize.quantize(zoo_models["small"], QuantConfig(bits=2, scheme="kmeans"))
    assert all(len(fake[i].weight.unique()) <= 4 for i in (1, 3))


def test_sweep_reports_every_scheme_and_width(digits, zoo_models):
    report = ll.quantize.bit_sweep(zoo_models["small"], task=digits, bits=(8, 2))
    assert report.models() == ["fp32", "linear per-tensor", "linear per-channel", "k-means"]
    fp32 = report.value("fp32", "accuracy")
    for scheme in report.models()[1:]:
        assert abs(report.value(scheme, "accuracy_8bit") - fp32) <= 1.0
        assert report.value(scheme, "accuracy_2bit") < report.value(scheme, "accuracy_8bit")
    assert report.value("k-means", "accuracy_2bit") > report.value("linear per-tensor", "accuracy_2bit") + 20


def test_qat_recovers_what_2_bit_ptq_loses(digits, zoo_models):
    report = ll.quantize.ptq_vs_qat(zoo_models["small"], task=digits, bits=(2,))
    assert report.value("QAT 2-bit", "accuracy") > report.value("PTQ 2-bit", "accuracy") + 20


def test_onnxruntime_int8_is_a_quarter_of_the_size_and_as_accurate(digits, zoo_models, tmp_path):
    large = zoo_models["large"]
    int8 = ll.quantize.quantize(large, QuantConfig(backend="onnxruntime"), task=digits)
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= set(int8.ops)  # auto picked static QDQ for a CNN
    report = ll.measure.measure({"fp32": large, "int8": int8}, digits, batch_sizes=(64,), repeats=3)
    assert report.ratio("size", "int8", "fp32") <= 0.26
    assert report.value("int8", "accuracy") >= report.value("fp32", "accuracy") - 0.5
    assert report.value("int8", "params") == report.value("fp32", "params")
    path = int8.save(tmp_path / "digits.onnx")
    assert path.stat().st_size == len(int8.onnx_bytes) == len(int8.onnx)
    # The deployable file says nothing about the machine that made it: no source path, no user name.
    assert [leak for leak in local_paths() if leak.encode() in path.read_bytes()] == []
    assert not any(node.metadata_props or node.doc_string for node in onnx.load(path).graph.node)
    # Loaded back from the file alone, its MACs come from the graph's shapes and match PyTorch's count.
    assert ll.onnx.OnnxModel.load(path).macs_per_sample == int8.macs_per_sample > 0
    x = digits.example(5)
    assert torch.equal(ll.onnx.OnnxModel.load(path)(x), int8(x))
    import copy

    assert torch.equal(copy.deepcopy(int8)(x), int8(x))


def test_onnxruntime_dynamic_for_linear_models_and_a_warning_for_cnns(digits, zoo_models):
    mlp = ll.quantize.quantize(zoo_models["small"], QuantConfig(backend="onnxruntime", calibration=digits))
    assert (
        "MatMulInteger"
        in ll.quantize.quantize(zoo_models["small"], QuantConfig(backend="onnxruntime"), task=digits).ops
    )
    assert "MatMulInteger" in mlp.ops and ll.train.evaluate(mlp, digits) > 0.95
    with pytest.warns(UserWarning, match="SLOWER"):
        ll.quantize.quantize(
            zoo_models["large"], QuantConfig(backend="onnxruntime", mode="dynamic", calibration=digits)
        )


def test_clear_errors_for_what_a_backend_cannot_do(zoo_models):
    with pytest.raises(ValueError, match="calibration"):
        ll.quantize.quantize(zoo_models["large"], QuantConfig(backend="onnxruntime"))
    with pytest.raises(ValueError, match=r"'0' \(Conv2d\), '2' \(Conv2d\).*Linear only|nn.Linear only"):
        ll.quantize.quantize(zoo_models["large"], QuantConfig(backend="torchao"))
    with pytest.raises(ValueError, match=r"'0' \(Embedding\)"):
        ll.quantize.quantize(
            torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2)),
            QuantConfig(backend="onnxruntime", calibration=torch.zeros(4, 3, dtype=torch.long)),
        )
    with pytest.raises(ValueError, match="no Linear or Conv"):
        ll.quantize.quantize(torch.nn.ReLU())


def test_torchao_quantizes_the_linear_layers(digits, zoo_models):
    int8 = ll.quantize.quantize(zoo_models["large"], QuantConfig(backend="torchao", skip_unsupported=True))
    assert "Int8Tensor" in type(int8[6].weight).__name__ and type(int8[0].weight) is torch.nn.Parameter
    assert ll.train.evaluate(int8, digits) >= ll.train.evaluate(zoo_models["large"], digits) - 0.005


def test_compare_backends_reports_each_backend(digits, zoo_models):
    report = ll.quantize.compare_backends(zoo_models["small"], task=digits, repeats=3)
    assert report.models() == ["torch fp32", "onnxruntime fp32", "onnxruntime int8 (dynamic)", "torchao int8 eager"]
    assert report.value("torch fp32", "speedup") == 1.0
    latency = next(r for r in report.rows if r["metric"] == "latency_p50_b64")
    assert f"best of {ll.measure.ROUNDS} alternating rounds" in latency["method"]
    assert report.ratio("size", "onnxruntime int8 (dynamic)", "onnxruntime fp32") < 0.6  # tiny model: overheads
    assert all(report.value(m, "latency_p50_b64") > 0 for m in report.models())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_weights_are_refused_not_rounded(bad):
    w = torch.randn(4, 8)
    w[1, 3] = bad  # was quantized silently
    with pytest.raises(ValueError, match="the weight holds NaN or inf"):
        linear_quantize(w, 8)
    with pytest.raises(ValueError, match="the weight holds NaN or inf"):
        kmeans_quantize(w, 3)

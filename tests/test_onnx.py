"""OnnxModel: an ONNX Runtime session used like any model; its size is the .onnx file's bytes."""

import copy
import pickle

import pytest
import torch
from torch import nn

from lightlab.measurement import measure
from lightlab.models import onnx


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()
    return model, onnx.OnnxModel(onnx.export_onnx(model, torch.rand(1, 1, 8, 8)))


def test_runs_like_the_torch_model_at_any_batch(pair):
    model, runtime = pair
    for batch in (1, 5):
        x = torch.rand(batch, 1, 8, 8)
        assert torch.allclose(runtime(x), model(x), atol=1e-5)
    assert runtime.precision == "fp32" and "Conv" in runtime.ops


def test_size_is_the_file_and_parameters_are_the_weights(pair, tmp_path):
    model, runtime = pair
    path = runtime.save(tmp_path / "m.onnx")
    assert measure.file_size(runtime) == (path.stat().st_size, "bytes of the .onnx file")
    assert measure.count_params(runtime) == measure.count_params(model)
    again = onnx.OnnxModel.load(path)
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(again(x), runtime(x))


def test_survives_copy_and_pickle(pair):
    _, runtime = pair
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(copy.deepcopy(runtime)(x), runtime(x))
    assert torch.equal(pickle.loads(pickle.dumps(runtime))(x), runtime(x))


def test_a_model_torch_export_cannot_trace_is_named():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if float(x.sum()) > 0 else -x

    with pytest.raises(ValueError, match="could not export Branchy"):
        onnx.export_onnx(Branchy(), torch.rand(1, 3))


def test_macs_are_counted_from_the_graph_as_torch_counts_them(pair):
    model, runtime = pair  # built from the bytes alone: no MACs were handed over
    assert runtime.macs_per_sample == measure.count_macs(model, torch.rand(1, 1, 8, 8)) > 0
    assert measure.count_macs(runtime, torch.rand(3, 1, 8, 8)) == 3 * runtime.macs_per_sample
    assert runtime.fixed_batch is None


def test_a_file_made_for_one_batch_size_runs_and_is_measured_at_it(pair, tmp_path):
    import warnings

    model, runtime = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (torch.rand(4, 1, 8, 8),), dynamo=True, verbose=False)
    fixed = onnx.OnnxModel(program.model_proto.SerializeToString())
    assert fixed.fixed_batch == 4 and fixed.macs_per_sample == runtime.macs_per_sample
    for batch in (1, 4, 7):  # smaller, equal, larger: padded chunks of 4
        x = torch.rand(batch, 1, 8, 8)
        assert torch.allclose(fixed(x), model(x), atol=1e-5)
    report = measure.measure({"fixed": fixed}, example=torch.rand(1, 1, 8, 8), batch_sizes=(1,), repeats=2)
    row = next(r for r in report.rows if r["metric"] == "latency_p50_b1")
    assert "each call ran a padded batch of 4" in row["method"]
    assert report.value("fixed", "macs") == runtime.macs_per_sample


def test_a_free_dimension_is_counted_at_the_input_it_gets():
    import warnings

    model = nn.Linear(8, 4).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (torch.rand(2, 5, 8),),
            dynamo=True,
            verbose=False,
            dynamic_shapes=({0: torch.export.Dim("batch"), 1: torch.export.Dim("steps")},),
        )
    runtime = onnx.OnnxModel(program.model_proto.SerializeToString())
    assert runtime.macs_per_sample is None  # depends on the number of steps
    assert measure.count_macs(runtime, torch.rand(2, 5, 8)) == 2 * 5 * 8 * 4
    assert measure.count_macs(runtime, torch.rand(1, 7, 8)) == 7 * 8 * 4

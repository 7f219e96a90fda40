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

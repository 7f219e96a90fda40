"""Your model from a file (ll.user_models): each safe format gives back the same model; unsafe files are refused."""

import pytest
import torch

from lightlab.models.user_models import ModelFileError, load_model


def test_every_safe_format_gives_back_the_same_model(own_files, digits, monkeypatch):
    folder, model = own_files
    monkeypatch.chdir(folder)  # module:factory is looked up from the working folder, as a user runs it
    x = digits.example(16)
    for spec, arch in [
        ("scripted.pt", None),
        ("exported.pt2", None),
        ("weights.pt", "my_models:build"),
        ("weights.safetensors", "my_models:build"),
        ("model.onnx", None),
    ]:
        name, loaded = load_model(str(folder / spec), arch)
        assert name == spec.split(".")[0]
        assert torch.allclose(loaded(x), model(x), atol=1e-4), spec
    assert load_model("my_models:build")[1](x).shape == (16, 10)  # a factory alone: untrained, the right shape


@pytest.mark.parametrize(
    ("spec", "arch", "message"),
    [
        ("pickled.pt", None, r"pickled whole model .*never unpickles.*torch.jit.save"),
        ("weights.pt", None, r"holds weights only: say which architecture .*--arch module:factory"),
        ("weights.safetensors", "my_models:nothing", r"cannot find 'nothing' in module 'my_models'"),
        ("missing.onnx", None, r"does not exist"),
        ("digits.npz", None, r"not a model file PyTorch can read"),
    ],
)
def test_unsafe_or_incomplete_model_files_are_refused_with_the_fix(own_files, monkeypatch, spec, arch, message):
    folder, _ = own_files
    monkeypatch.chdir(folder)
    with pytest.raises(ModelFileError, match=message):
        load_model(str(folder / spec), arch)


def test_weights_that_do_not_fit_the_architecture_are_named(own_files, monkeypatch):
    folder, _ = own_files
    monkeypatch.chdir(folder)
    (folder / "other.py").write_text("from torch import nn\n\ndef build():\n    return nn.Linear(64, 10)\n")
    with pytest.raises(ModelFileError, match=r"the weights in weights.pt do not fit other:build"):
        load_model(str(folder / "weights.pt"), "other:build")

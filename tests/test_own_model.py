"""Your own model and data through `lightlab bench --model PATH --data PATH`: every safe file format, the refusals."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.data.tasks import DataError
from lightlab.data.user_data import load_data
from lightlab.face import cli
from lightlab.models.user_models import ModelFileError, load_model

MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.body(x))


    def build():
        return nn.Sequential(nn.Conv2d(1, 24, 3, padding=1), nn.ReLU(), Block(24), Block(24),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


    def student():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    """
)


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits):
    """A small residual CNN of 'the user's', trained briefly on the real digits, saved in every safe format."""
    folder = tmp_path_factory.mktemp("own")
    (folder / "my_models.py").write_text(MODULE)
    sys.path.insert(0, str(folder))
    import my_models

    torch.manual_seed(0)
    model = my_models.build()
    ll.train.fit_(model, digits, epochs=8, lr=1e-2, progress=False)
    model.eval()
    x = digits.example(1)
    torch.jit.save(torch.jit.script(model), folder / "scripted.pt")
    batch = ({0: torch.export.Dim("batch")},)  # any batch size, as measuring times batches of 1 and 64
    torch.export.save(torch.export.export(model, (digits.example(2),), dynamic_shapes=batch), folder / "exported.pt2")
    torch.save(model.state_dict(), folder / "weights.pt")
    from safetensors.torch import save_file

    save_file(model.state_dict(), folder / "weights.safetensors")
    (folder / "model.onnx").write_bytes(ll.onnx.export_onnx(model, x))
    torch.save(model, folder / "pickled.pt")  # the unsafe format
    every = [torch.cat(parts) for parts in zip(*(s.tensors for s in digits.splits.values()), strict=True)]
    np.savez(folder / "digits.npz", x=every[0].numpy(), y=every[1].numpy())  # the user's whole data set
    yield folder, model
    sys.path.remove(str(folder))
    sys.modules.pop("my_models", None)


def test_every_safe_format_gives_back_the_same_model(files, digits, monkeypatch):
    folder, model = files
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
def test_unsafe_or_incomplete_model_files_are_refused_with_the_fix(files, monkeypatch, spec, arch, message):
    folder, _ = files
    monkeypatch.chdir(folder)
    with pytest.raises(ModelFileError, match=message):
        load_model(str(folder / spec), arch)


def test_weights_that_do_not_fit_the_architecture_are_named(files, monkeypatch):
    folder, _ = files
    monkeypatch.chdir(folder)
    (folder / "other.py").write_text("from torch import nn\n\ndef build():\n    return nn.Linear(64, 10)\n")
    with pytest.raises(ModelFileError, match=r"the weights in weights.pt do not fit other:build"):
        load_model(str(folder / "weights.pt"), "other:build")


def test_bench_your_models_on_your_data_from_the_command_line(files, tmp_path, capsys, monkeypatch):
    folder, model = files
    monkeypatch.chdir(folder)
    out = tmp_path / "out"
    args = ["bench", "--model", "scripted.pt", "--model", "model.onnx", "--data", "digits.npz"]
    assert cli.main([*args, "--no-energy", "--quick", "--out", str(out)]) == 0
    data = json.loads((out / "bench.json").read_text())
    value = {(r["model"], r["metric"]): r["value"] for r in data["rows"]}
    # The same weights in two formats: the same accuracy, and MACs counted for both (ONNX from its graph).
    assert value[("scripted", "accuracy")] == value[("model", "accuracy")] > 50
    assert value[("model", "macs")] == ll.measure.count_macs(model, torch.zeros(1, 1, 8, 8)) > 0
    assert data["environment"]["data"] == "digits.npz"  # its name, never its path
    assert "scripted" in capsys.readouterr().out


def test_without_data_the_bench_says_what_it_cannot_tell(files, tmp_path, capsys, monkeypatch):
    folder, _ = files
    monkeypatch.chdir(folder)
    out = tmp_path / "out"
    args = ["bench", "--model", "exported.pt2", "--input-shape", "1,8,8", "--no-energy", "--quick", "--out", str(out)]
    assert cli.main(args) == 0
    assert "accuracy needs --data" in capsys.readouterr().out
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert {"latency_p50_b1", "size", "macs"} <= {r["metric"] for r in rows}
    assert "accuracy" not in {r["metric"] for r in rows}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --data PATH .* or --input-shape"),
        (["--input-shape", "8,zero"], "--input-shape must be whole numbers"),
        (["--data", "nothing.npz"], "does not exist"),
        (["--input-shape", "3,32,32"], "does not accept these inputs"),
        (["--data", "pickled.pt"], "cannot read pickled.pt"),
    ],
)
def test_bad_bench_arguments_are_one_line_errors(files, tmp_path, capsys, monkeypatch, extra, message):
    folder, _ = files
    monkeypatch.chdir(folder)
    assert cli.main(["bench", "--model", "scripted.pt", *extra, "--no-energy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    assert pytest.importorskip("re").search(message, err), err


def test_data_files_become_tasks(files, tmp_path, digits):
    folder, _ = files
    task = load_data(folder / "digits.npz")
    assert task.input_shape == (1, 8, 8) and task.num_classes == 10
    assert sum(task.sizes().values()) == sum(digits.sizes().values())
    rng = np.random.default_rng(0)
    table = "a,b,y\n" + "\n".join(f"{rng.normal():.3f},{rng.normal():.3f},{i % 2}" for i in range(40))
    (tmp_path / "sensor.csv").write_text(table)
    assert load_data(tmp_path / "sensor.csv").input_shape == (2,)
    (tmp_path / "bad.csv").write_text("a,label\n1,0\n")
    with pytest.raises(DataError, match="name the label column y"):
        load_data(tmp_path / "bad.csv")
    np.savez(tmp_path / "wrong.npz", inputs=np.zeros((5, 2)), labels=np.zeros(5))
    with pytest.raises(DataError, match=r"holds arrays \['inputs', 'labels'\]; name the inputs x"):
        load_data(tmp_path / "wrong.npz")


def test_a_folder_of_images_becomes_a_task(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in (("red", 0), ("green", 1)):
        (tmp_path / c).mkdir()
        for i in range(6):
            pixels = np.zeros((20, 30, 3), np.uint8)
            pixels[..., colour] = rng.integers(150, 255)
            Image.fromarray(pixels).save(tmp_path / c / f"{i}.png")
    task = load_data(tmp_path, image_size=16)
    assert task.classes == ["green", "red"] and task.input_shape == (3, 16, 16)
    assert sum(task.sizes().values()) == 12


@pytest.mark.parametrize(
    ("model", "to", "extra"),
    [
        ("weights.safetensors", "int8", ["--arch", "my_models:build"]),
        ("model.onnx", "int8", []),  # the .onnx file itself is quantized
        ("weights.pt", "pruned", ["--arch", "my_models:build", "--epochs", "5"]),
        ("scripted.pt", "distilled", ["--student", "my_models:student", "--epochs", "5"]),
    ],
)
def test_optimize_your_model_writes_a_deployable_file_and_a_report(
    files, tmp_path, capsys, monkeypatch, model, to, extra
):
    folder, _ = files
    monkeypatch.chdir(folder)
    out = tmp_path / "out"
    args = ["optimize", "--model", model, "--to", to, "--data", "digits.npz", *extra, "--no-energy", "--quick"]
    assert cli.main([*args, "--out", str(out)]) == 0, capsys.readouterr().err
    written = next(out.glob(f"*-{to}.onnx"))
    assert ll.onnx.OnnxModel.load(written)(torch.zeros(2, 1, 8, 8)).shape == (2, 10)  # deployable: it runs
    value = {(r["model"], r["metric"]): r["value"] for r in json.loads((out / "optimize.json").read_text())["rows"]}
    assert value[(to, "size")] == written.stat().st_size  # the size is the file's
    if to == "int8":
        assert value[(to, "size")] < 0.5 * value[("before", "size")]
        assert value[(to, "accuracy")] >= value[("before", "accuracy")] - 5
    else:  # fewer multiply-accumulates, still far above chance (10 %)
        assert value[(to, "macs")] < value[("before", "macs")] and value[(to, "accuracy")] > 40
    if to == "pruned":  # the sparsity each layer reached: half its channels, the output layer whole
        removed = {m[len("channels_removed_") :]: v for (_, m), v in value.items() if m.startswith("channels_removed_")}
        assert removed["0"] == 50 and removed["6"] == 0
    assert "before" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "scripted.pt", "--to", "pruned"], "--to pruned trains on your data: give --data"),
        (["--model", "scripted.pt", "--to", "distilled", "--data", "digits.npz"], "give its builder with --student"),
        (["--model", "exported.pt2", "--to", "pruned", "--data", "digits.npz"], "has frozen: give the weights"),
        (["--model", "model.onnx", "--to", "pruned", "--data", "digits.npz"], "an .onnx file cannot do"),
        (["--model", "scripted.pt", "--to", "pruned", "--data", "digits.npz", "--sparsity", "1"], "--sparsity must be"),
        (["--model", "scripted.pt", "--to", "smaller"], "--to must be one of int8, pruned, distilled"),
        (["--model", "model.onnx", "--to", "int8"], "give --data PATH, or --input-shape"),
    ],
)
def test_optimize_refuses_what_cannot_work_before_any_work(files, tmp_path, capsys, monkeypatch, args, message):
    folder, _ = files
    monkeypatch.chdir(folder)
    assert cli.main(["optimize", *args, "--no-energy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

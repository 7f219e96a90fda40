"""`lightlab optimize --model PATH --to int8|pruned|distilled`: a deployable file and a before/after report."""

import json

import pytest
import torch
from _privacy import local_paths

import lightlab as ll
from lightlab.face import cli


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
    own_files, tmp_path, capsys, monkeypatch, model, to, extra
):
    folder, _ = own_files
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
    for artifact in out.iterdir():  # the file and the reports name nothing of this machine: no path, no user folder
        assert [leak for leak in local_paths() if leak.encode() in artifact.read_bytes()] == [], artifact.name


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
def test_optimize_refuses_what_cannot_work_before_any_work(own_files, tmp_path, capsys, monkeypatch, args, message):
    folder, _ = own_files
    monkeypatch.chdir(folder)
    assert cli.main(["optimize", *args, "--no-energy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err

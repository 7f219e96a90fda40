"""`lightlab bench --model PATH --data PATH | --input-shape`: your own model files measured from the command line."""

import json
import re

import pytest
import torch

import lightlab as ll
from lightlab.face import cli


def test_bench_your_models_on_your_data_from_the_command_line(own_files, tmp_path, capsys, monkeypatch):
    folder, model = own_files
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


def test_without_data_the_bench_says_what_it_cannot_tell(own_files, tmp_path, capsys, monkeypatch):
    folder, _ = own_files
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
def test_bad_bench_arguments_are_one_line_errors(own_files, tmp_path, capsys, monkeypatch, extra, message):
    folder, _ = own_files
    monkeypatch.chdir(folder)
    assert cli.main(["bench", "--model", "scripted.pt", *extra, "--no-energy", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ")
    assert re.search(message, err), err

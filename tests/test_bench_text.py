"""`lightlab bench --models smollm2-135m,smollm2-135m-int4`: a language model and its quantized variants."""

import json

from lightlab.face import cli


def test_bench_a_language_model_and_its_int4_variant(tmp_path, capsys):
    out = tmp_path / "lm"
    args = ["bench", "--models", "smollm2-135m,smollm2-135m-int4", "--no-energy", "--quick", "--out", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert (
        "decode tokens per s" in printed and "perplexity" in printed and "smollm2-135m-int4 / smollm2-135m" in printed
    )
    rows = json.loads((out / "bench.json").read_text())["rows"]
    assert {r["model"] for r in rows} == {"smollm2-135m", "smollm2-135m-int4"}
    assert (out / "report.html").stat().st_size > 0


def test_unknown_language_model_variant_lists_the_presets(capsys):
    assert cli.main(["bench", "--models", "smollm2-135m-int5", "--no-energy"]) == 2
    assert "int4" in capsys.readouterr().err

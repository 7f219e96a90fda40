import json
import re
import subprocess
import sys
import time

import pytest
from _privacy import local_paths

from lightlab.face import cli


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "lightlab.face.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = run("bench", "--quick", "--out", str(out), cwd=out)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_bench_writes_csv_json_html(bench_out):
    out, stdout = bench_out
    assert {p.name for p in out.iterdir()} >= {"bench.csv", "bench.json", "report.html"}
    assert "Speed" in stdout and re.search("Energy, (estimated|measured):", stdout) and "Edge fit" in stdout
    assert "Cost" in stdout
    # The accuracy line carries its paired test: the shipped pair is one image apart on 360, not "better".
    assert "exact McNemar, n = 360" in stdout
    assert not (out / "emissions.csv").exists()  # CodeCarbon writes nothing unless asked


def test_bench_energy_rows_carry_their_method(bench_out):
    data = json.loads((bench_out[0] / "bench.json").read_text())
    rows = data["rows"]
    energy = {r["model"]: r for r in rows if r["metric"] == "energy_per_inference"}
    assert set(energy) == {"digits-large", "digits-small"}
    for row in rows:
        assert row["method"], row
    method = energy["digits-small"]["method"]
    assert method.startswith(("estimated", "measured")), method
    # The small model's energy per inference is at most a tenth of the large one's, in the same run.
    assert energy["digits-small"]["value"] <= 0.1 * energy["digits-large"]["value"]
    modelled = [r for r in rows if r["metric"] == "energy_modelled_per_inference"]
    assert len(modelled) == 2 and all(r["method"].startswith("modelled") for r in modelled)
    env = data["environment"]
    assert env["energy_method"] == method.split(";")[0] or env["energy_method"]
    assert {"cpu", "cores", "threads", "torch", "lightlab"} <= set(env)


def test_bench_outputs_carry_no_local_path_or_user_name(bench_out):
    out = bench_out[0]
    for name in ("bench.csv", "bench.json", "report.html"):
        text = (out / name).read_text()
        assert [leak for leak in local_paths() if leak in text] == [], name


def test_bench_report_html_is_offline(bench_out):
    html = (bench_out[0] / "report.html").read_text()
    # plotly.js is inlined: no script or stylesheet is fetched from anywhere
    assert re.findall(r"<script[^>]*\bsrc=", html) == [] and "<link" not in html
    assert "Plotly.newPlot" in html and len(html) > 3_000_000


def test_out_pointing_at_a_file_is_refused(tmp_path):
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    result = run("bench", "--quick", "--no-energy", "--out", str(target))
    assert result.returncode != 0 and "is a file" in result.stderr
    assert target.read_text() == "keep me"


def test_unknown_task_and_model_list_valid_names(capsys):
    assert cli.main(["bench", "--task", "imagenet", "--no-energy"]) == 2
    assert "available tasks: activity, digits, ecg, faces, lidar, shuttle, spoken_digits" in capsys.readouterr().err
    assert cli.main(["bench", "--models", "huge", "--no-energy"]) == 2
    assert "unknown model 'digits-huge'" in capsys.readouterr().err


def test_data_and_zoo_listings(capsys):
    assert cli.main(["data"]) == 0
    assert "digits" in capsys.readouterr().out
    assert cli.main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "digits-large" in out and "1,128,714" in out and "weights ok" in out


def test_train_writes_weights_elsewhere(tmp_path, capsys):
    target = tmp_path / "small.safetensors"
    assert cli.main(["train", "--task", "digits", "--model", "small", "--out", str(target)]) == 0
    assert target.stat().st_size > 9_000 and "sha256" in capsys.readouterr().out


def test_summary_warns_about_disturbed_measurements():
    import lightlab as ll

    report = ll.Report()
    for model, scale in (("big", 100.0), ("tiny", 1.0)):
        for metric, unit in (
            ("accuracy", "%"),
            ("latency_p50_b1", "ms"),
            ("size", "bytes"),
            ("peak_memory", "bytes"),
            ("compute_s_per_million", "s"),
        ):
            report.add(model, metric, scale, unit, "fixed example")
    assert not any("Warning" in line for line in cli.summary(report, "big", "tiny", "FRA"))
    report.add("big", "latency_p50_b64", 5.0, "ms", "fixed example", note="disturbed: other processes used 1.2 cores")
    assert "big/latency_p50_b64" in cli.summary(report, "big", "tiny", "FRA")[-1]


def test_ctrl_c_prints_one_line_and_keeps_the_previous_output(tmp_path):
    import signal

    for name in ("bench.csv", "bench.json", "report.html"):
        (tmp_path / name).write_text(f"the previous run's {name}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lightlab.face.cli", "bench", "--quick", "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    time.sleep(6)  # well into loading and measuring (the whole quick bench takes about 30 s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted: lightlab bench stopped before it finished" in err
    for name in ("bench.csv", "bench.json", "report.html"):
        assert (tmp_path / name).read_text() == f"the previous run's {name}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv", "bench.json", "report.html"]


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, capsys):
    blocked = tmp_path / "a-file"  # a folder cannot be made under a file, not even by root
    blocked.write_text("")
    start = time.perf_counter()
    assert cli.main(["train", "--task", "digits", "--model", "large", "--out", str(blocked / "w.safetensors")]) == 2
    assert "cannot write to --out" in capsys.readouterr().err and time.perf_counter() - start < 5  # no training
    assert cli.main(["bench", "--no-energy", "--out", str(blocked / "bench")]) == 2
    assert "cannot write to --out" in capsys.readouterr().err

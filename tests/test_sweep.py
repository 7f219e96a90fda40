import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch

import lightlab as ll
from lightlab.face import cli
from lightlab.measurement.sweep import Trial

TESTS = Path(__file__).resolve().parent


def noisy_square(x: int, pause: float = 0.0) -> dict:
    """A cheap deterministic trial: x squared and a seeded random number (the same on any worker)."""
    time.sleep(pause)
    return {"y": x * x, "noise": torch.randn(3, generator=torch.Generator().manual_seed(x)).sum().item()}


def fragile(x: int) -> dict:
    """Raise for x == 3, kill its own worker process for x == 5, else return x squared."""
    if x == 3:
        raise ValueError("three is not allowed")
    if x == 5:
        os._exit(1)
    return {"y": x * x}


def not_a_dict(x: int) -> list:
    return [x]


def results(records: list[dict]) -> dict:
    """Return what a trial computed, by id: the part that must not depend on the executor or the worker."""
    return {r["id"]: (r["status"], r.get("result")) for r in records}


def test_trial_ids_are_stable_and_explicit_ids_are_kept():
    assert ll.sweep.trial_id({"a": 1, "b": 2}) == ll.sweep.trial_id({"b": 2, "a": 1})
    assert ll.sweep.trial_id({"a": 1}) != ll.sweep.trial_id({"a": 2})
    assert len(ll.sweep.trial_id({"a": 1})) == 12


def test_bad_input_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "s.jsonl"
    with pytest.raises(ValueError, match="same id .* Trial"):
        ll.sweep.run(noisy_square, [{"x": 1}, {"x": 1}], path)
    with pytest.raises(ValueError, match="not JSON-able"):
        ll.sweep.run(noisy_square, [{"x": object()}], path)
    with pytest.raises(TypeError, match="give a dict"):
        ll.sweep.run(noisy_square, [3], path)
    with pytest.raises(ValueError, match="retries must be an integer >= 0, got -1"):
        ll.sweep.run(noisy_square, [{"x": 1}], path, retries=-1)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        ll.sweep.run(noisy_square, [{"x": 1}], path, workers=0)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        ll.sweep.run(noisy_square, [{"x": 1}], tmp_path)
    with pytest.raises(TypeError, match="concurrent.futures.Executor"):
        ll.sweep.run(noisy_square, [{"x": 1}], path, executor="dask")
    with pytest.raises(TypeError, match="fn is a int"):
        ll.sweep.run(3, [{"x": 1}], path)
    with pytest.raises(FileNotFoundError, match="run ll.sweep.run"):
        ll.sweep.load(tmp_path / "missing.jsonl")
    assert not path.read_text()  # nothing was recorded by refused calls


def test_a_notebook_function_is_refused_where_workers_cannot_import_it(tmp_path, monkeypatch):
    def in_a_cell(x):
        return {"x": x}

    in_a_cell.__module__ = "__main__"
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # a kernel's main has no file
    monkeypatch.setattr(ll.sweep.multiprocessing, "get_start_method", lambda: "spawn")
    with pytest.raises(ValueError, match="defined in a notebook.*move it into a .py module"):
        ll.sweep.run(in_a_cell, [{"x": 1}], tmp_path / "s.jsonl")


def test_sigkill_halfway_then_resume_records_every_trial_once(tmp_path):
    trials = [{"x": x, "pause": 0.2} for x in range(24)]
    path = tmp_path / "killed.jsonl"
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "import lightlab as ll\nfrom test_sweep import noisy_square\n"
        f"ll.sweep.run(noisy_square, {trials!r}, {str(path)!r}, workers=2, progress=False)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while (not path.exists() or path.read_text().count("\n") < 12) and time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.01)
        with pytest.raises(RuntimeError, match="another sweep is appending"):
            ll.sweep.run(noisy_square, trials, path, workers=2, progress=False)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # its orphaned pool workers too
    before = ll.sweep.load(path)
    assert 12 <= len(before) < 24, len(before)

    resumed = ll.sweep.run(noisy_square, trials, path, workers=2, progress=False)
    records = ll.sweep.load(path)
    assert resumed.skipped == len(before) and records[: len(before)] == before  # nothing finished was redone
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(ll.sweep.trial_id(t) for t in trials) and len(set(ids)) == 24
    assert all(r["status"] == "ok" and r["attempts"] == 1 for r in records)
    clean = ll.sweep.run(noisy_square, trials, tmp_path / "clean.jsonl", workers=2, progress=False)
    assert results(records) == results(clean.records)


def test_torn_last_line_is_dropped_and_the_file_repaired(tmp_path):
    path = tmp_path / "torn.jsonl"
    trials = [{"x": x} for x in range(4)]
    ll.sweep.run(noisy_square, trials[:2], path, workers=1, progress=False)
    with open(path, "a") as f:  # what a SIGKILL in the middle of a write leaves
        f.write('{"id": "' + ll.sweep.trial_id(trials[2]) + '", "status": "o')
    assert len(ll.sweep.load(path)) == 2
    sweep = ll.sweep.run(noisy_square, trials, path, workers=1, progress=False)
    assert sweep.skipped == 2 and sweep.count("ok") == 4
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["status"] == "ok" for line in lines)


def test_a_corrupt_line_in_the_middle_is_reported_not_skipped(tmp_path):
    path = tmp_path / "edited.jsonl"
    ll.sweep.run(noisy_square, [{"x": 1}], path, workers=1, progress=False)
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(ValueError, match="line 1 of .* is not a JSON record"):
        ll.sweep.run(noisy_square, [{"x": 1}], path, workers=1, progress=False)


def test_failures_are_recorded_never_lost(tmp_path):
    path = tmp_path / "fragile.jsonl"
    sweep = ll.sweep.run(fragile, [{"x": x} for x in range(8)], path, workers=2, retries=1, progress=False)
    by_x = {r["params"]["x"]: r for r in sweep.records}
    assert by_x[3]["status"] == "failed" and by_x[3]["error"] == "ValueError: three is not allowed"
    assert by_x[3]["attempts"] == 1  # the trial's own exception is not retried: it would fail again
    assert by_x[5]["status"] == "failed" and "worker died 2 times" in by_x[5]["error"]
    assert "BrokenProcessPool" in by_x[5]["error"]
    assert all(by_x[x]["status"] == "ok" and by_x[x]["result"] == {"y": x * x} for x in (0, 1, 2, 4, 6, 7))
    assert sweep.count("ok") == 6 and sweep.count("failed") == 2 and len(ll.sweep.load(path)) == 8
    assert "8 trials: 6 ok, 2 failed" in str(sweep)

    again = ll.sweep.run(fragile, [{"x": x} for x in range(8)], path, workers=2, progress=False)
    assert again.skipped == 8 and len(ll.sweep.load(path)) == 8  # failed trials count as recorded
    rerun = ll.sweep.run(
        fragile, [{"x": x} for x in range(8)], path, workers=2, retries=0, rerun_failed=True, progress=False
    )
    assert rerun.skipped == 6 and rerun.count("failed") == 2 and len(ll.sweep.load(path)) == 8


def test_a_result_that_is_not_a_dict_is_a_failed_record(tmp_path):
    sweep = ll.sweep.run(not_a_dict, [{"x": 1}], tmp_path / "s.jsonl", workers=1, progress=False)
    assert sweep.records[0]["status"] == "failed" and "expected a dict" in sweep.records[0]["error"]


def test_a_broken_executor_you_passed_names_the_unfinished_trials(tmp_path):
    path = tmp_path / "yours.jsonl"
    trials = [Trial(f"t{x}", {"x": x}) for x in (0, 1, 5, 6, 7)]
    with cf.ProcessPoolExecutor(max_workers=1) as pool:
        with pytest.raises(RuntimeError, match="cannot be recreated .* unfinished .* executor=None"):
            ll.sweep.run(fragile, trials, path, executor=pool, workers=1, progress=False)
    assert [r["id"] for r in ll.sweep.load(path)] == ["t0", "t1"]
    sweep = ll.sweep.run(fragile, trials, path, workers=1, retries=0, progress=False)
    assert sweep.skipped == 2 and [r["status"] for r in sweep.records] == ["ok", "ok", "failed", "ok", "ok"]


def test_any_executor_and_a_table(tmp_path):
    path = tmp_path / "threads.jsonl"
    threads = torch.get_num_threads()
    with cf.ThreadPoolExecutor(2) as pool:
        sweep = ll.sweep.run(noisy_square, [{"x": x} for x in range(5)], path, executor=pool, progress=False)
    torch.set_num_threads(threads)  # trials in threads of this process set its torch threads to 1
    local = ll.sweep.run(noisy_square, [{"x": x} for x in range(5)], tmp_path / "p.jsonl", workers=2, progress=False)
    assert results(sweep.records) == results(local.records)
    df = ll.sweep.table(path)
    assert len(df) == 5 and {"id", "status", "params.x", "result.y", "attempts", "seconds", "worker"} <= set(df)
    assert sorted(df["result.y"]) == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="holds results of test_sweep.noisy_square, not test_sweep.fragile"):
        ll.sweep.run(fragile, [{"x": 1}], path, progress=False)


@pytest.mark.slow
def test_dask_localcluster_gives_the_same_results_as_local_processes(tmp_path):
    import dask
    from distributed import Client, LocalCluster

    trials = [{"seed": seed, "epochs": 3} for seed in range(4)]
    local = ll.sweep.run(ll.recipes.train_trial, trials, tmp_path / "local.jsonl", workers=2, progress=False)
    # A worker death fails its task at once on this cluster, so that the retry below is ours, not Dask's.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        remote = ll.sweep.run(ll.recipes.train_trial, trials, tmp_path / "dask.jsonl", executor=client, progress=False)
        died = ll.sweep.run(
            fragile,
            [{"x": x} for x in range(4, 7)],
            tmp_path / "died.jsonl",
            executor=client,
            retries=1,
            progress=False,
        )
    assert all(r["status"] == "ok" for r in local.records)
    assert results(remote.records) == results(local.records)
    assert {r["worker"] for r in remote.records}.isdisjoint({r["worker"] for r in local.records})
    by_x = {r["params"]["x"]: r for r in died.records}
    assert by_x[5]["status"] == "failed" and "KilledWorker" in by_x[5]["error"] and by_x[5]["attempts"] == 2
    assert by_x[4]["status"] == by_x[6]["status"] == "ok"


def test_cli_sweep_resumes_and_summarises(tmp_path, capsys, monkeypatch):
    first = subprocess.run(
        [
            sys.executable,
            "-m",
            "lightlab.face.cli",
            "sweep",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--workers",
            "2",
            "--out",
            "s.jsonl",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    assert "2 trials: 2 ok, 0 failed, 0 already in s.jsonl" in first.stdout
    assert "test accuracy:" in first.stdout and "mean ± std over 2 seeds" in first.stdout
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", "--seeds", "3", "--epochs", "2", "--workers", "2", "--out", "s.jsonl"]) == 0
    assert "3 trials: 3 ok, 0 failed, 2 already in s.jsonl" in capsys.readouterr().out
    assert len(ll.sweep.load(tmp_path / "s.jsonl")) == 3
    assert cli.main(["sweep", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1, got 0" in capsys.readouterr().err
    assert cli.main(["sweep", "--model", "faces-small"]) == 2
    assert "belongs to task 'faces'" in capsys.readouterr().err
    assert cli.main(["sweep", "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file such as" in capsys.readouterr().err

"""Sweep benchmark part: a seeds sweep killed with SIGKILL halfway and resumed, then the same sweep on Dask.

    python benchmarks/_bench_sweep.py     (prints the targets; writes no results file)

24 real trials (``ll.recipes.train_trial``: digits-small trained from seeds 0..23, full epochs) run on two
local processes in a child process, which is killed with SIGKILL once about half are recorded; the sweep is then
restarted and must record every trial exactly once without redoing any. The same sweep on a Dask LocalCluster with
two worker processes must give identical results.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import print_targets, target  # benchmarks/ is on sys.path when run as a script

import lightlab as ll

TRIALS = [{"task": "digits", "model": "digits-small", "seed": seed} for seed in range(24)]


def _kill_when_half_done(path: Path, workers: int) -> float:
    """Run the sweep in a child process, SIGKILL it once half the trials are in ``path``, return the seconds."""
    script = (
        f"import lightlab as ll\nll.sweep.run(ll.recipes.train_trial, {TRIALS!r}, {str(path)!r}, "
        f"workers={workers}, progress=False)\n"
    )
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        while child.poll() is None and len(ll.sweep.load(path) if path.exists() else []) < len(TRIALS) // 2:
            time.sleep(0.01)
        if child.poll() is not None:
            raise RuntimeError(f"the sweep ended (exit {child.returncode}) before half its trials were recorded")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # the killed sweep's orphaned pool workers
    return time.perf_counter() - start


def _rows(report: ll.Report, name: str, sweep: ll.sweep.Sweep, seconds: float, method: str) -> None:
    scores = [r["result"]["test_accuracy"] for r in sweep.records if r["status"] == "ok"]
    report.add(name, "trials", len(sweep.records), "trials", method)
    report.add(name, "ok", sweep.count("ok"), "trials", method)
    report.add(name, "failed", sweep.count("failed"), "trials", method)
    report.add(name, "seconds", seconds, "s", "wall clock (time.perf_counter), machine possibly shared")
    report.add(name, "mean_test_accuracy", 100 * sum(scores) / max(1, len(scores)), "%", method)


def run(targets: list[dict]) -> list[ll.Report]:
    """Measure the SIGKILL-and-resume and the Dask comparison, append the sweep targets, return the report."""
    from distributed import Client, LocalCluster

    report = ll.Report(environment={"trials": len(TRIALS), "workers": 2})
    with tempfile.TemporaryDirectory() as tmp:
        killed, on_dask = Path(tmp) / "killed.jsonl", Path(tmp) / "dask.jsonl"
        killed_after = _kill_when_half_done(killed, workers=2)
        before = ll.sweep.load(killed)
        start = time.perf_counter()
        resumed = ll.sweep.run(ll.recipes.train_trial, TRIALS, killed, workers=2, progress=False)
        resume_s = time.perf_counter() - start
        after = ll.sweep.load(killed)
        counts = Counter(r["id"] for r in after)
        once = sum(counts[ll.sweep.trial_id(t)] == 1 for t in TRIALS)
        redone = sum(counts[r["id"]] - 1 for r in before) + (len(before) - resumed.skipped)

        start = time.perf_counter()
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            dask = ll.sweep.run(ll.recipes.train_trial, TRIALS, on_dask, executor=client, progress=False)
        dask_s = time.perf_counter() - start

    method = "ll.sweep.run, records read back from the JSON-lines file"
    report.add(
        "local processes (killed)",
        "trials_recorded_before_kill",
        len(before),
        "trials",
        "child process SIGKILLed once half the trials were in the file",
    )
    report.add("local processes (killed)", "seconds_until_kill", killed_after, "s", "wall clock (time.perf_counter)")
    _rows(report, "local processes (resumed)", resumed, resume_s, method)
    _rows(report, "Dask LocalCluster (2 workers)", dask, dask_s, method + "; seconds include starting the cluster")
    same = {r["id"]: r.get("result") for r in resumed.records} == {r["id"]: r.get("result") for r in dask.records}
    target(
        targets,
        "sweep: trials recorded exactly once after SIGKILL + resume",
        once / len(TRIALS),
        "== 1",
        once == len(TRIALS) and len(after) == len(TRIALS),
    )
    target(targets, "sweep: trials redone after resume", redone, "== 0", redone == 0)
    target(
        targets,
        "sweep: Dask LocalCluster (2 workers) results == local processes",
        float(same),
        "== 1",
        same and dask.count("ok") == len(TRIALS),
    )
    return [report]


if __name__ == "__main__":
    found: list[dict] = []
    for rep in run(found):
        print(rep.table().to_string())
    print_targets(found)

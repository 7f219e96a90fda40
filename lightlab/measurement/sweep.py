"""Run many trials (seeds, NAS candidates, pruning sensitivities) through any executor, durably and resumably.

Each finished trial becomes one JSON line appended to a file, flushed and fsync-ed by this process the moment its
future completes. A sweep killed at any point (even with SIGKILL) and started again reads the file, skips the trials
already recorded and runs only the rest: nothing is redone, nothing is lost, every trial is recorded exactly once.
Local processes are the default; pass any ``concurrent.futures.Executor`` or a Dask ``distributed.Client`` to use a
cluster instead.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

if os.name == "posix":
    import fcntl
else:  # no advisory locks: two sweeps on one file are then not detected
    fcntl = None


@dataclass(frozen=True)
class Trial:
    """One trial: a stable ``id`` (how a restart knows it is done) and the keyword arguments passed to ``fn``."""

    id: str
    params: dict


def trial_id(params: dict) -> str:
    """Return the id of a trial given as plain params: 12 hex digits of the sha256 of their sorted JSON."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]


def _trials(trials: Iterable[dict | Trial]) -> list[Trial]:
    """Return ``trials`` as Trial objects, or raise naming the first bad or repeated one."""
    out, seen = [], {}
    for i, t in enumerate(trials):
        if isinstance(t, dict):
            t = Trial(trial_id(t) if _jsonable(t) else "", t)
        if not isinstance(t, Trial) or not isinstance(t.params, dict):
            raise TypeError(
                f"trial {i} is a {type(t).__name__}; give a dict of keyword arguments for fn or Trial(id, params)"
            )
        if not _jsonable(t.params):
            raise ValueError(
                f"trial {i} has params that are not JSON-able ({t.params!r}); use numbers, strings, "
                f"lists and dicts so that the record can be written and compared after a restart"
            )
        if not isinstance(t.id, str) or not t.id:
            raise ValueError(f"trial {i} has id {t.id!r}; give a non-empty string")
        if t.id in seen:
            raise ValueError(
                f"trials {seen[t.id]} and {i} have the same id {t.id!r}; give each repeat its own id "
                f"with Trial(id, params) (or a parameter such as seed that tells them apart)"
            )
        seen[t.id] = i
        out.append(t)
    return out


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _name(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _call(fn: Callable, params: dict) -> dict:
    """Run one trial inside a worker and return its outcome; fn's own exception is an outcome, not a crash."""
    # One intra-op thread per trial: the workers already fill the cores, and a fixed thread count fixes the order
    # of float reductions, so a trial gives bit-identical numbers on whichever executor or worker runs it.
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        out = {"status": "ok", "result": fn(**params)}
    except Exception as err:  # noqa: BLE001 - any error of the trial itself is recorded as a failed trial
        out = {"status": "failed", "error": traceback.format_exception_only(err)[-1].strip()}
    return {**out, "seconds": round(time.perf_counter() - start, 4), "worker": f"{socket.gethostname()}:{os.getpid()}"}


def _read(path: Path, data: bytes) -> tuple[list[dict], int]:
    """Return the complete records in ``data`` (read from ``path``) and the length in bytes of their part."""
    # A SIGKILL during a write can leave a last line without its newline: it is not a record, and is cut off.
    end = data.rfind(b"\n") + 1
    records = []
    for number, line in enumerate(data[:end].split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"line {number} of {path} is not a JSON record ({err}); the file was edited or written "
                f"by something else: repair or delete that line, or give another path"
            ) from None
        if not isinstance(record, dict) or not {"id", "status"} <= set(record):
            raise ValueError(f"line {number} of {path} is not a sweep record (no id or status); give another path")
        records.append(record)
    return records, end


def load(path: str | Path) -> list[dict]:
    """Return the records written to ``path``, in the order the trials finished (a torn last line left out)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep results at {path}; run ll.sweep.run(fn, trials, '{path}') first")
    return _read(path, path.read_bytes())[0]


def table(path: str | Path) -> pd.DataFrame:
    """Return the records of ``path`` as a DataFrame: one row per trial, columns such as ``params.seed``."""
    return pd.json_normalize(load(path))


class _Log:
    """The results file, opened for appending and locked so that two sweeps never interleave in it."""

    def __init__(self, path: Path):
        self.path = path
        self.file = open(path, "a+b")  # noqa: SIM115 - closed by close(), the file lives as long as the sweep
        if fcntl is not None:
            # A POSIX lock belongs to this process only: forked workers do not inherit it, and it vanishes with
            # the process, even on SIGKILL. It is also dropped when any descriptor of the file is closed, so the
            # file is read through this one.
            try:
                fcntl.lockf(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self.file.close()
                raise RuntimeError(
                    f"another sweep is appending to {path}; wait for it to end or give another path"
                ) from None
        self.file.seek(0)
        self.records, end = _read(path, self.file.read())
        if end < os.fstat(self.file.fileno()).st_size:
            os.ftruncate(self.file.fileno(), end)

    def rewrite(self, records: list[dict]) -> None:
        """Replace the file by ``records`` atomically (a crash leaves the old or the new file, never half)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write("".join(json.dumps(r) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.close()
        self.__init__(self.path)

    def append(self, record: dict) -> None:
        """Write one record as one line and wait until it is on disk."""
        self.file.write((json.dumps(record) + "\n").encode())
        self.file.flush()
        os.fsync(self.file.fileno())
        self.records.append(record)

    def close(self) -> None:
        self.file.close()


@dataclass
class Sweep:
    """What ``run`` returns: one record per trial in the order given, how many were already done, the file."""

    records: list[dict]
    skipped: int
    path: Path

    def count(self, status: str) -> int:
        """Return how many trials ended with ``status`` ('ok' or 'failed')."""
        return sum(r["status"] == status for r in self.records)

    def table(self) -> pd.DataFrame:
        """Return the records as a DataFrame, one row per trial."""
        return pd.json_normalize(self.records)

    def __str__(self) -> str:
        return (
            f"{len(self.records)} trials: {self.count('ok')} ok, {self.count('failed')} failed, "
            f"{self.skipped} already in {self.path} (not rerun)"
        )


def _executor(executor, workers: int | None, pending: int) -> tuple[cf.Executor, int]:
    """Return the executor to submit to and how many trials to keep in flight on it."""
    if executor is None:
        workers = workers or os.cpu_count() or 1
        return cf.ProcessPoolExecutor(max_workers=workers), workers
    if hasattr(executor, "get_executor"):  # a Dask distributed.Client
        # pure=False: a retried trial must get a fresh key, not Dask's cached (failed) result for the same call.
        return executor.get_executor(pure=False), workers or pending
    if not isinstance(executor, cf.Executor):
        raise TypeError(
            f"executor is a {type(executor).__name__}; give a concurrent.futures.Executor, a Dask "
            f"distributed.Client, or None for local processes"
        )
    return executor, workers or pending


def _check_fn(fn: Callable, executor) -> None:
    if not callable(fn):
        raise TypeError(f"fn is a {type(fn).__name__}; give a function taking each trial's params as keywords")
    # Forked workers inherit a notebook's functions; spawned ones (macOS, Windows, Python >= 3.14) import them.
    in_notebook = getattr(fn, "__module__", "") == "__main__" and not hasattr(sys.modules["__main__"], "__file__")
    if executor is None and in_notebook and multiprocessing.get_start_method() != "fork":
        raise ValueError(
            f"fn {fn.__qualname__} is defined in a notebook, which worker processes cannot import; "
            f"move it into a .py module and import it, or pass a Dask distributed.Client"
        )


def run(
    fn: Callable[..., dict],
    trials: Iterable[dict | Trial],
    path: str | Path,
    executor=None,
    workers: int | None = None,
    retries: int = 1,
    rerun_failed: bool = False,
    progress: bool = True,
) -> Sweep:
    """Run ``fn(**params)`` for every trial not yet in ``path``, append each record as it finishes, return a Sweep.

    ``executor``: None (local processes, ``workers`` of them, default one per core), any
    ``concurrent.futures.Executor``, or a Dask ``distributed.Client``. A trial whose worker dies is retried up to
    ``retries`` times, then recorded as failed; an exception raised by ``fn`` is recorded as failed at once.
    ``rerun_failed`` drops failed records from the file first, so that those trials run again.
    """
    todo = _trials(trials)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file such as {path / 'sweep.jsonl'}")
    if not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer >= 0, got {retries!r}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 (or None for one per core), got {workers!r}")
    _check_fn(fn, executor)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = _Log(path)
    try:
        other = {r.get("fn") for r in log.records} - {_name(fn)}
        if other:
            raise ValueError(
                f"{path} holds results of {', '.join(sorted(map(str, other)))}, not {_name(fn)}; "
                f"give another path so that the two sweeps stay apart"
            )
        if rerun_failed and any(r["status"] == "failed" for r in log.records):
            log.rewrite([r for r in log.records if r["status"] != "failed"])
        done = {r["id"] for r in log.records}
        pending = [t for t in todo if t.id not in done]
        with tqdm(total=len(todo), initial=len(todo) - len(pending), desc="sweep", disable=not progress) as bar:
            _execute(fn, pending, executor, workers, retries, log, bar)
        by_id = {r["id"]: r for r in log.records}
        return Sweep([by_id[t.id] for t in todo], len(todo) - len(pending), path)
    finally:
        log.close()


def _execute(
    fn: Callable, pending: list[Trial], executor, workers: int | None, retries: int, log: _Log, bar: tqdm
) -> None:
    """Submit the pending trials, append each outcome as it comes, retry the trials whose worker died."""
    if not pending:
        return
    pool, window = _executor(executor, workers, len(pending))
    attempts = dict.fromkeys((t.id for t in pending), 0)
    deaths = dict.fromkeys(attempts, 0)
    # suspects: trials whose worker died, or that were in flight when a pool broke. They run one at a time, so
    # that a second death is surely the fault of the one trial running and the innocent ones simply finish.
    queue, suspects, running, solo = list(pending), [], {}, False

    def submit(t: Trial) -> None:
        attempts[t.id] += 1
        running[pool.submit(_call, fn, t.params)] = t

    def finish(t: Trial, outcome: dict) -> None:
        if outcome["status"] == "ok" and not (isinstance(outcome["result"], dict) and _jsonable(outcome["result"])):
            outcome = {
                **outcome,
                "status": "failed",
                "error": f"fn returned {outcome.pop('result')!r:.200}, expected a dict of JSON-able values",
            }
        log.append({"id": t.id, "params": t.params, **outcome, "attempts": attempts[t.id], "fn": _name(fn)})
        bar.update()

    def died(t: Trial, err: BaseException) -> None:
        deaths[t.id] += 1
        if deaths[t.id] > retries:
            finish(
                t,
                {
                    "status": "failed",
                    "error": f"the worker died {deaths[t.id]} times running this trial ({type(err).__name__}: {err})",
                },
            )
        else:
            suspects.insert(0, t)

    try:
        while queue or suspects or running:
            if suspects and not running:
                submit(suspects.pop(0))
                solo = True
            while not solo and queue and len(running) < window:
                submit(queue.pop(0))
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            broken = next((f.exception() for f in finished if isinstance(f.exception(), cf.BrokenExecutor)), None)
            if broken is not None:
                cf.wait(running)  # a broken pool fails every future still in it: collect them all
                finished = set(running)
            lost = []
            for f in finished:
                t = running.pop(f)
                if f.exception() is None:
                    finish(t, f.result())
                elif broken is None:  # the executor failed, not fn (whose errors _call returns): e.g. KilledWorker
                    died(t, f.exception())
                else:
                    lost.append(t)
            if broken is not None:
                if executor is not None:
                    raise _broken(log, [*lost, *suspects, *queue], broken)
                if len(lost) == 1:
                    died(lost[0], broken)
                else:
                    suspects += lost
                pool.shutdown(wait=False, cancel_futures=True)
                pool, window = _executor(None, workers, len(queue))
            solo = solo and bool(running)
    finally:
        if executor is None:  # after an interruption, don't wait for the trials still running
            pool.shutdown(wait=not running, cancel_futures=True)


def _broken(log: _Log, unfinished: list[Trial], err: BaseException) -> RuntimeError:
    unfinished = [t.id for t in unfinished]
    return RuntimeError(
        f"the executor you passed broke ({type(err).__name__}: {err}) and cannot be recreated by "
        f"the sweep; {len(log.records)} trials are recorded in {log.path}, {len(unfinished)} are "
        f"unfinished ({', '.join(unfinished[:5])}{', ...' if len(unfinished) > 5 else ''}): run again "
        f"with a working executor, or executor=None, to resume them"
    )

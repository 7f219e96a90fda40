"""What every benchmark shares: a target row, the printed table, the JSON file it writes, and the busy-core mode.

``python benchmarks/NAME.py --busy`` runs the same benchmark while another process spins on one core, and writes
results/NAME-busy.json. A timing taken under that load carries the "disturbed" note; a target computed from it is
"not measurable now" (``"met": null`` with a note), never a wrong number that passes or fails.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import lightlab as ll

RESULTS = Path(__file__).resolve().parent / "results"
BUSY = "--busy" in sys.argv[1:]
NOT_MEASURABLE = "not measurable now: a timing behind it was disturbed by other processes"


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim read back from a Report row: its 95 % interval and its verdict in words (the row's note)."""

    interval: tuple[float, float]
    verdict: str


def target(
    targets: list[dict],
    name: str,
    value: float,
    goal: str,
    met: bool | None,
    note: str = "",
    test: ll.stats.Paired | ll.stats.Kept | ll.stats.Interval | Claim | None = None,
    shown: bool | None = None,
) -> None:
    """Append one target row; ``met=None`` means it could not be judged now (``note`` says why).

    A claim about accuracy carries its ``test``: the row gets its ``p_value`` (a paired test) and ``interval`` (95 %),
    its ``verdict`` in words, and ``shown``: whether the test supports the claim, not just the point estimate.
    """
    row = {"target": name, "value": round(float(value), 4), "goal": goal, "met": None if met is None else bool(met)}
    if note:
        row["note"] = note
    if test is not None:
        if isinstance(test, ll.stats.Interval):
            row["interval"] = [round(test.low, 4), round(test.high, 4)]
            row["verdict"] = str(test)
        else:
            row["interval"] = [round(v, 4) for v in test.interval]
            row["verdict"] = test.verdict
        if isinstance(test, ll.stats.Paired):
            row["p_value"] = test.p_value
        row["shown"] = bool(test.holds) if isinstance(test, ll.stats.Kept) else shown
    targets.append(row)


def ratio_target(
    targets: list[dict],
    name: str,
    report: ll.Report,
    metric: str,
    top: str,
    bottom: str,
    goal: str,
    passes: Callable[[float], bool],
) -> float:
    """Append a target on ``metric`` of ``top`` / ``bottom``; "not measurable now" if either row was disturbed."""
    ratio = report.ratio(metric, top, bottom)
    disturbed = [r["note"] for r in report.disturbed([metric], [top, bottom])]
    if disturbed:
        target(targets, name, ratio, goal, None, f"{NOT_MEASURABLE} ({disturbed[0]})")
    else:
        target(targets, name, ratio, goal, passes(ratio))
    return ratio


def print_targets(targets: list[dict]) -> None:
    """Print the targets as a table: target, value, goal, met (n/a when not measurable now)."""
    width = max(len(t["target"]) for t in targets)
    print(f"{'target':{width}s}  {'value':>9s}  {'goal':>8s}  met")
    for t in targets:
        met = "n/a (disturbed)" if t["met"] is None else ("yes" if t["met"] else "NO")
        print(f"{t['target']:{width}s}  {t['value']:>9.4g}  {t['goal']:>8s}  {met}")
        if "verdict" in t:
            print(f"{'':{width}s}  {'shown' if t['shown'] else 'NOT shown'}: {t['verdict']}")


@contextlib.contextmanager
def busy_core() -> Iterator[None]:
    """Run the block while another process spins on core 0 (the benchmark's busy-core mode)."""
    code = "import os\nos.sched_setaffinity(0, {0})\nwhile True: pass"
    spinner = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.5)  # let it start spinning
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def run(name: str, main: Callable[[], tuple[list[dict], list[ll.Report]]]) -> int:
    """Run ``main`` (quietly, or with ``--busy`` beside a spinning core) and ``finish`` with its targets."""
    with busy_core() if BUSY else contextlib.nullcontext():
        targets, reports = main()
    return finish(f"{name}-busy" if BUSY else name, targets, reports)


def finish(name: str, targets: list[dict], reports: list[ll.Report]) -> int:
    """Print the targets table, write results/NAME.json atomically; return 0 when no judged target failed, else 1."""
    print_targets(targets)
    rows = [row for report in reports for row in report.to_dict()["rows"]]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    environment = {**ll.measure.environment(), "busy_core": BUSY}
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"targets": targets, "rows": rows, "environment": environment}, indent=2, default=str))
    os.replace(tmp, out)
    print(f"wrote {out}")
    return 0 if all(t["met"] is not False for t in targets) else 1

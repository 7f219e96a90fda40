"""What every benchmark shares: a target row, the printed table and the JSON file it writes."""

from __future__ import annotations

import json
from pathlib import Path

import lightlab as ll

RESULTS = Path(__file__).resolve().parent / "results"


def target(targets: list[dict], name: str, value: float, goal: str, met: bool) -> None:
    """Append one target row."""
    targets.append({"target": name, "value": round(float(value), 4), "goal": goal, "met": bool(met)})


def print_targets(targets: list[dict]) -> None:
    """Print the targets as a table: target, value, goal, met."""
    width = max(len(t["target"]) for t in targets)
    print(f"{'target':{width}s}  {'value':>9s}  {'goal':>8s}  met")
    for t in targets:
        print(f"{t['target']:{width}s}  {t['value']:>9.4g}  {t['goal']:>8s}  {'yes' if t['met'] else 'NO'}")


def finish(name: str, targets: list[dict], reports: list[ll.Report]) -> int:
    """Print the targets table, write results/NAME.json and return 0 when every target is met, else 1."""
    print_targets(targets)
    rows = [row for report in reports for row in report.to_dict()["rows"]]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(
        json.dumps({"targets": targets, "rows": rows, "environment": ll.measure.environment()}, indent=2, default=str)
    )
    print(f"wrote {out}")
    return 0 if all(t["met"] for t in targets) else 1

"""Foundation benchmark: does `lightlab bench` keep its promises on this machine?

    python benchmarks/foundation.py

Runs `lightlab bench --quick` and the default `lightlab bench` as a user would (fresh processes), times them,
and checks the targets of the foundation issue. Prints a table and writes benchmarks/results/foundation.json
as {"targets": [{"target", "value", "goal", "met"}], "rows": [...], "environment": {...}}.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightlab as ll

RESULTS = Path(__file__).resolve().parent / "results"


def run_bench(*flags: str) -> tuple[float, dict]:
    """Run `lightlab bench` in a fresh process; return its wall time and its bench.json."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "lightlab.face.cli", "bench", "--out", out, *flags],
            check=True,
            cwd=out,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - start
        return seconds, json.loads((Path(out) / "bench.json").read_text())


def value(bench: dict, model: str, metric: str) -> float:
    """Return one value from a bench.json."""
    return next(r["value"] for r in bench["rows"] if r["model"] == model and r["metric"] == metric)


def main() -> int:
    quick_s, quick = run_bench("--quick")
    full_s, full = run_bench()
    _, again = run_bench("--quick", "--no-energy")
    large, small = "digits-large", "digits-small"
    energy_ratio = value(full, small, "energy_per_inference") / value(full, large, "energy_per_inference")
    method = next(r["method"] for r in full["rows"] if r["metric"] == "energy_per_inference")
    same = all(value(again, m, "accuracy") == value(quick, m, "accuracy") for m in (large, small))
    gap = abs(value(full, large, "accuracy") - value(full, small, "accuracy"))
    # The same two shipped models on the same test split, input by input: is the gap within 2 points, shown?
    pair = {large: ll.zoo.pretrained(large), small: ll.zoo.pretrained(small)}
    test = ll.stats.compare_models(pair, ll.load("digits"))
    if test.scores != (value(full, large, "accuracy"), value(full, small, "accuracy")):
        raise RuntimeError(f"the paired test saw other accuracies {test.scores} than lightlab bench: rerun both")
    targets = [
        {
            "target": "lightlab bench --quick wall time (s)",
            "value": round(quick_s, 1),
            "goal": "<= 20",
            "met": quick_s <= 20,
        },
        {
            "target": "lightlab bench (default) wall time (s)",
            "value": round(full_s, 1),
            "goal": "<= 60",
            "met": full_s <= 60,
        },
        {
            "target": "small/large energy per inference",
            "value": round(energy_ratio, 5),
            "goal": "<= 0.1",
            "met": energy_ratio <= 0.1,
            "method": method,
        },
        {
            "target": "accuracy gap large vs small (points)",
            "value": round(gap, 2),
            "goal": "<= 2",
            "met": gap <= 2,
            "p_value": test.p_value,
            "interval": [round(v, 4) for v in test.interval],
            "verdict": test.verdict,
            "shown": test.interval[1] <= 2 and test.interval[0] >= -2,
        },
        {"target": "same seed, same accuracies (two runs)", "value": same, "goal": "True", "met": same},
    ]
    width = max(len(t["target"]) for t in targets)
    print(f"{'target':{width}s}  {'value':>10s}  {'goal':>8s}  met")
    for t in targets:
        print(f"{t['target']:{width}s}  {t['value']!s:>10s}  {t['goal']:>8s}  {'yes' if t['met'] else 'NO'}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "foundation.json"
    path.write_text(
        json.dumps({"targets": targets, "rows": full["rows"], "environment": full["environment"]}, indent=2)
    )
    print(f"energy method: {method}\nwrote {path}")
    return 0 if all(t["met"] for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())

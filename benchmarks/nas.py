"""Search and adaptation benchmark: NAS, the edge/cloud cascade, the adaptive model and resumable sweeps.

    python benchmarks/nas.py

Each part lives in its own file beside this one and appends its target rows:
- ``_bench_blocks.py``: the efficient blocks' counted parameters and MACs equal their closed forms; a
  depthwise-separable layer is faster than a standard convolution where its MACs dominate (and slower where the
  per-layer overhead does); an efficient CNN on digits with <= 1/4 of the parameters within 2 points;
- ``_bench_nas.py``: NAS on spoken_digits over a space of >= 200 candidates (per-layer block kind, width, kernel)
  within 10 minutes: the unbudgeted front has >= 3 points of >= 2 block families; the winner within the budget (a
  quarter of the hand-made ``spoken_digits-small``'s parameters, at most 3x its latency) loses at most 2 points of
  test accuracy to it, shown by the paired interval; the search's seconds and joules (estimated); the measured
  latency table predicts whole-model latency within 20 % (median error) on candidates spread over the space;
- ``_bench_cascade.py``: the cascade at its best threshold (chosen on the validation split) is within 0.5 points of
  the large model's test accuracy while sending <= 30 % of the inputs to the cloud;
- ``_bench_adaptive.py``: the width-switchable model offers >= 3 operating points spanning >= 3x in latency, each
  within 2 points of a separately trained model of that width;
- ``_bench_sweep.py``: a sweep of >= 20 trials killed with SIGKILL halfway and resumed records every trial exactly
  once, and a Dask LocalCluster with 2 workers gives the same results.
Prints a table and writes benchmarks/results/nas.json ({"targets": [...], "rows": [...], "environment": {...}}).
Timing parts run first and one at a time; run it on a quiet machine (rows note when other processes disturbed a timing).
"""

from __future__ import annotations

import sys
import time

import _bench_adaptive
import _bench_blocks
import _bench_cascade
import _bench_nas
import _bench_sweep
from _common import finish, target


def main() -> int:
    start = time.perf_counter()
    targets: list[dict] = []
    reports = []
    for part in (_bench_blocks, _bench_nas, _bench_cascade, _bench_adaptive, _bench_sweep):
        began = time.perf_counter()
        reports += part.run(targets)
        print(f"{part.__name__}: {time.perf_counter() - began:.0f} s", flush=True)
    minutes = (time.perf_counter() - start) / 60
    target(targets, "benchmark wall time (minutes)", minutes, "<= 20", minutes <= 20)
    return finish("nas", targets, reports)


if __name__ == "__main__":
    sys.exit(main())

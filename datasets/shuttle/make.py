"""Rebuild datasets/shuttle/shuttle.npz from the copy of Statlog Shuttle that river 0.26.1 ships (run once, offline).

    pip install --no-deps river==0.26.1   # only to extract; LightLab does not need river at run time
    python datasets/shuttle/make.py

All 49,097 rows are kept, in river's order. The result is byte-for-byte reproducible (fixed zip timestamps).
"""

import gzip
import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _archive import package_file, write_npz  # noqa: E402

# sha256 of river 0.26.1's shuttle.csv.gz, so a different river release cannot silently change the data.
SOURCE_SHA256 = "1ed4bfa77233d95bff2c8ab2482725d2d800410daedf5919ad80ec6faf60ff59"


def main() -> None:
    source = package_file("river", "datasets/shuttle.csv.gz")
    raw = source.read_bytes()
    if hashlib.sha256(raw).hexdigest() != SOURCE_SHA256:
        raise SystemExit(f"{source} differs from river 0.26.1's copy; install river==0.26.1")
    table = np.loadtxt(gzip.decompress(raw).decode().splitlines(), delimiter=",", skiprows=1, dtype=np.int64)
    features, labels = table[:, :9], table[:, 9]
    # Every attribute is an integer within int16 (-26,739..15,164): store it exactly, half the bytes of int32.
    assert features.min() >= np.iinfo(np.int16).min and features.max() <= np.iinfo(np.int16).max
    write_npz(HERE / "shuttle.npz", features=features.astype(np.int16), labels=labels.astype(np.uint8))


if __name__ == "__main__":
    main()

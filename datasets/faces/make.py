"""Rebuild datasets/faces/faces.npz from the LFW subset that scikit-image 0.26.0 ships (run once, offline).

    pip download --no-deps scikit-image==0.26.0 -d /tmp/skim   # a wheel; LightLab does not install scikit-image
    python datasets/faces/make.py [path/to/scikit_image-0.26.0-...whl]   # default: the wheel in /tmp/skim

The wheel's ``skimage/data/lfw_subset.npy`` holds 200 grey 25x25 patches as float64 in [0, 1]: 100 faces then
100 non-faces (checked by eye: see DATASHEET.md). Every value is a whole multiple of 1/3060 (the patches were
averaged when resized), so they are stored losslessly as uint16 levels 0..3060. The result is byte-for-byte
reproducible (fixed zip timestamps).
"""

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _archive import write_npz  # noqa: E402

MEMBER = "skimage/data/lfw_subset.npy"
# sha256 of scikit-image 0.26.0's lfw_subset.npy (the same hash scikit-image's data registry lists).
SOURCE_SHA256 = "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c"
LEVELS = 3060  # 255 x 12: one grey level of the source divided by the resize's averaging


def main() -> None:
    wheels = [Path(sys.argv[1])] if len(sys.argv) > 1 else sorted(Path("/tmp/skim").glob("scikit_image-0.26.0-*.whl"))
    if not wheels or not wheels[0].is_file():
        raise SystemExit("scikit-image 0.26.0 wheel not found; get it with the pip download command in this docstring")
    with zipfile.ZipFile(wheels[0]) as wheel:
        raw = wheel.read(MEMBER)
    if hashlib.sha256(raw).hexdigest() != SOURCE_SHA256:
        raise SystemExit(f"{MEMBER} in {wheels[0]} differs from scikit-image 0.26.0's copy")
    images = np.load(io.BytesIO(raw))
    assert images.shape == (200, 25, 25) and images.min() >= 0 and images.max() <= 1
    levels = images * LEVELS
    assert np.abs(levels - np.round(levels)).max() < 1e-3  # lossless as integers
    labels = np.r_[np.ones(100), np.zeros(100)]  # scikit-image: "100 first images are faces"; 1 = face
    write_npz(
        HERE / "faces.npz",
        images=np.round(levels).astype(np.uint16),
        levels=np.array([LEVELS], np.uint16),
        labels=labels.astype(np.uint8),
    )


if __name__ == "__main__":
    main()

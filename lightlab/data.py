"""Data sets as ``Task`` objects: ``load(name)`` gives train/val/test loaders and metadata.

Every data set ships in ``datasets/NAME/`` with a DATASHEET.md and is checked by sha256 before use;
nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from lightlab import config


class DataError(ValueError):
    """A data set is unknown, missing, corrupted or malformed."""


@dataclass
class Task:
    """A data set with its splits and what a model for it must know (input shape, classes, metric)."""

    name: str
    domain: str
    input_shape: tuple[int, ...]
    classes: list[str]
    metric: str
    splits: dict[str, TensorDataset] = field(repr=False)
    batch_size: int = 64
    seed: int = 0
    description: str = ""

    @property
    def num_classes(self) -> int:
        """Return the number of output classes."""
        return len(self.classes)

    def loader(self, split: str, batch_size: int | None = None, shuffle: bool | None = None) -> DataLoader:
        """Return a DataLoader over ``split`` ('train', 'val' or 'test'); train is shuffled with the task seed."""
        if split not in self.splits:
            raise DataError(f"unknown split {split!r} for task {self.name!r}; use one of {sorted(self.splits)}")
        shuffle = (split == "train") if shuffle is None else shuffle
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.splits[split], batch_size=batch_size or self.batch_size,
                          shuffle=shuffle, generator=generator)

    @property
    def train(self) -> DataLoader:
        """Return the shuffled training loader."""
        return self.loader("train")

    @property
    def val(self) -> DataLoader:
        """Return the validation loader."""
        return self.loader("val")

    @property
    def test(self) -> DataLoader:
        """Return the test loader."""
        return self.loader("test")

    def example(self, batch_size: int = 1, split: str = "test") -> torch.Tensor:
        """Return a batch of real inputs, repeated when ``batch_size`` exceeds the split."""
        x = self.splits[split].tensors[0]
        reps = -(-batch_size // len(x))
        return x.repeat(reps, *([1] * (x.dim() - 1)))[:batch_size].clone()

    def sizes(self) -> dict[str, int]:
        """Return the number of samples in each split."""
        return {name: len(ds) for name, ds in self.splits.items()}


# sha256 of every shipped file; a mismatch means a corrupted or edited copy.
CHECKSUMS = {
    "digits/digits.npz": "223ad079d112aeb886fed821f96a669bed49132241f5c7ad8f3b4bc0c6ef49b4",
    "shuttle/shuttle.npz": "62d7c3049c57bb4a163456b60969f8d06403d094aa79c2bbad6bd23b180ddfe5",
    "spoken_digits/spoken_digits.npz": "773da780c0941f051e9e21faa4610ca7c73717b65a33b9411ebc5f67122aeff5",
}


def sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verified_path(relative: str) -> Path:
    """Return the path of a shipped data file after checking that it exists and its sha256 matches."""
    path = config.datasets_dir() / relative
    if not path.is_file():
        raise DataError(f"data file {path} is missing; restore it with `git checkout -- datasets/{relative}` "
                        f"or point LIGHTLAB_DATA at a folder that holds it")
    actual, expected = sha256(path), CHECKSUMS[relative]
    if actual != expected:
        raise DataError(f"data file {path} is corrupted: sha256 {actual} but expected {expected}; "
                        f"restore it with `git checkout -- datasets/{relative}` "
                        f"(or rebuild it with datasets/{Path(relative).parent}/make.py)")
    return path


def split_indices(labels: np.ndarray, seed: int, fractions: tuple[float, float] = (0.6, 0.2)) -> dict:
    """Return stratified train/val/test index arrays (fractions of train and val; test takes the rest)."""
    idx = np.arange(len(labels))
    train, rest = train_test_split(idx, train_size=fractions[0], stratify=labels, random_state=seed)
    val_share = fractions[1] / (1 - fractions[0])
    val, test = train_test_split(rest, train_size=val_share, stratify=labels[rest], random_state=seed)
    return {"train": train, "val": val, "test": test}


def _make_splits(x: torch.Tensor, labels: np.ndarray, parts: dict) -> dict[str, TensorDataset]:
    """Return TensorDatasets for ``parts``; quick mode keeps a seeded half of train, val and test stay whole."""
    if config.quick():
        parts = {**parts, "train": parts["train"][: len(parts["train"]) // 2]}
    y = torch.from_numpy(labels.astype(np.int64))
    return {name: TensorDataset(x[i], y[i]) for name, i in parts.items()}


def _digits(seed: int) -> Task:
    with np.load(verified_path("digits/digits.npz")) as f:
        images, labels = f["images"], f["labels"]
    x = torch.from_numpy(images.astype(np.float32) / 16.0).unsqueeze(1)
    return Task(name="digits", domain="vision", input_shape=(1, 8, 8), classes=[str(d) for d in range(10)],
                metric="accuracy", splits=_make_splits(x, labels, split_indices(labels, seed)), seed=seed,
                description="8x8 handwritten digits (UCI / scikit-learn), 1,797 images, 10 classes")


def _shuttle(seed: int) -> Task:
    with np.load(verified_path("shuttle/shuttle.npz")) as f:
        features, labels = f["features"].astype(np.float32), f["labels"]
    parts = split_indices(labels, seed)
    # Standardise with the whole train split's statistics only (never val/test), same in quick and full mode.
    train = features[parts["train"]]
    x = torch.from_numpy((features - train.mean(0)) / train.std(0))
    return Task(name="shuttle", domain="industrial", input_shape=(9,), classes=["normal", "anomaly"],
                metric="accuracy", splits=_make_splits(x, labels, parts), seed=seed,
                description="anomaly detection on 9 NASA Space Shuttle sensor readings (UCI Statlog Shuttle, "
                            "ODDS variant via river), 49,097 rows, 7.2 % anomalies: always answering 'normal' "
                            "scores 92.8 % accuracy")


SPOKEN_FRAMES = 32  # frames kept per recording: 98 % of FSDD recordings are at most 32 MFCC frames long


def _spoken_digits(seed: int) -> Task:
    with np.load(verified_path("spoken_digits/spoken_digits.npz")) as f:
        frames, lengths, labels = f["mfcc"], f["lengths"].astype(np.int64), f["labels"]
    parts = split_indices(labels, seed)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Standardise each MFCC coefficient with the train split's real frames only.
    train_frames = np.concatenate([frames[starts[i]: starts[i] + lengths[i]] for i in parts["train"]])
    frames = (frames - train_frames.mean(0)) / train_frames.std(0)
    # Pad short recordings at the end with zeros (the train mean after standardising); crop long ones centred.
    x = np.zeros((len(labels), SPOKEN_FRAMES, frames.shape[1]), dtype=np.float32)
    for i, (start, n) in enumerate(zip(starts, lengths, strict=True)):
        skip = max(0, (n - SPOKEN_FRAMES) // 2)
        keep = min(n, SPOKEN_FRAMES)
        x[i, :keep] = frames[start + skip: start + skip + keep]
    return Task(name="spoken_digits", domain="wearables", input_shape=(1, SPOKEN_FRAMES, 13),
                classes=[str(d) for d in range(10)], metric="accuracy",
                splits=_make_splits(torch.from_numpy(x).unsqueeze(1), labels, parts), seed=seed,
                description="keyword spotting: spoken digits 0-9 (Free Spoken Digit Dataset, 6 speakers), "
                            "3,000 recordings as 32 frames x 13 MFCCs")


_LOADERS: dict[str, Callable[[int], Task]] = {"digits": _digits, "shuttle": _shuttle,
                                               "spoken_digits": _spoken_digits}


def names() -> list[str]:
    """Return the names of all tasks that ``load`` accepts."""
    return sorted(_LOADERS)


def load(name: str, seed: int = 0) -> Task:
    """Return the Task called ``name`` with a fixed, seeded train/val/test split."""
    if name not in _LOADERS:
        raise DataError(f"unknown task {name!r}; available tasks: {', '.join(names())}")
    return _LOADERS[name](seed)


def check_inputs(x: torch.Tensor) -> torch.Tensor:
    """Return ``x`` unchanged, or raise if it holds NaN or infinite values."""
    if not torch.is_floating_point(x):
        return x
    bad = ~torch.isfinite(x)
    if bad.any():
        raise DataError(f"inputs hold {int(bad.sum())} NaN/infinite values (of {x.numel()}); "
                        f"clean or impute them before measuring or training")
    return x

"""The shipped data sets, one loader each: ``LOADERS[name](seed) -> Task``.

Each loader reads its file from ``datasets/NAME/`` (sha256-checked), splits it with a fixed seed and
standardises with statistics of the training split only. ``lightlab.synth`` adds the generated tasks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from lightlab import synth
from lightlab.data import Task, make_splits, split_indices, verified_path


def digits(seed: int) -> Task:
    """Return 8x8 handwritten digits (UCI / scikit-learn), 10 classes."""
    with np.load(verified_path("digits/digits.npz")) as f:
        images, labels = f["images"], f["labels"]
    x = torch.from_numpy(images.astype(np.float32) / 16.0).unsqueeze(1)
    return Task(name="digits", domain="vision", input_shape=(1, 8, 8), classes=[str(d) for d in range(10)],
                metric="accuracy", splits=make_splits(x, labels, split_indices(labels, seed)), seed=seed,
                description="8x8 handwritten digits (UCI / scikit-learn), 1,797 images, 10 classes")


def shuttle(seed: int) -> Task:
    """Return NASA Space Shuttle sensor readings labelled normal / anomaly."""
    with np.load(verified_path("shuttle/shuttle.npz")) as f:
        features, labels = f["features"].astype(np.float32), f["labels"]
    parts = split_indices(labels, seed)
    # Standardise with the whole train split's statistics only (never val/test), same in quick and full mode.
    train = features[parts["train"]]
    x = torch.from_numpy((features - train.mean(0)) / train.std(0))
    return Task(name="shuttle", domain="industrial", input_shape=(9,), classes=["normal", "anomaly"],
                metric="accuracy", splits=make_splits(x, labels, parts), seed=seed,
                description="anomaly detection on 9 NASA Space Shuttle sensor readings (UCI Statlog Shuttle, "
                            "ODDS variant via river), 49,097 rows, 7.2 % anomalies: always answering 'normal' "
                            "scores 92.8 % accuracy")


SPOKEN_FRAMES = 32  # frames kept per recording: 98 % of FSDD recordings are at most 32 MFCC frames long


def spoken_digits(seed: int) -> Task:
    """Return spoken digits (FSDD) as 32 frames x 13 MFCCs, 10 classes."""
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
                splits=make_splits(torch.from_numpy(x).unsqueeze(1), labels, parts), seed=seed,
                description="keyword spotting: spoken digits 0-9 (Free Spoken Digit Dataset, 6 speakers), "
                            "3,000 recordings as 32 frames x 13 MFCCs")


LOADERS: dict[str, Callable[[int], Task]] = {
    "digits": digits, "shuttle": shuttle, "spoken_digits": spoken_digits, **synth.LOADERS,
}

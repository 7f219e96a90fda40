"""The shipped data sets, one loader each: ``LOADERS[name](seed) -> Task``.

Each loader reads its file from ``datasets/NAME/`` (sha256-checked), splits it with a fixed seed and
standardises with statistics of the training split only. The generated (synthetic) tasks come from
``ll.ecg`` and ``ll.lidar``, imported only when loaded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from lightlab.data.tasks import DataError, Task, make_splits, split_indices, verified_path


def digits(seed: int) -> Task:
    """Return 8x8 handwritten digits (UCI / scikit-learn), 10 classes."""
    with np.load(verified_path("digits/digits.npz")) as f:
        images, labels = f["images"], f["labels"]
    x = torch.from_numpy(images.astype(np.float32) / 16.0).unsqueeze(1)
    return Task(
        name="digits",
        domain="vision",
        input_shape=(1, 8, 8),
        classes=[str(d) for d in range(10)],
        metric="accuracy",
        splits=make_splits(x, labels, split_indices(labels, seed)),
        seed=seed,
        description="8x8 handwritten digits (UCI / scikit-learn), 1,797 images, 10 classes",
    )


def shuttle(seed: int) -> Task:
    """Return NASA Space Shuttle sensor readings labelled normal / anomaly."""
    with np.load(verified_path("shuttle/shuttle.npz")) as f:
        features, labels = f["features"].astype(np.float32), f["labels"]
    parts = split_indices(labels, seed)
    # Standardise with the whole train split's statistics only (never val/test), same in quick and full mode.
    train = features[parts["train"]]
    x = torch.from_numpy((features - train.mean(0)) / train.std(0))
    # Balanced accuracy, not accuracy: always answering "normal" scores 92.8 % accuracy but 50 % balanced.
    return Task(
        name="shuttle",
        domain="industrial",
        input_shape=(9,),
        classes=["normal", "anomaly"],
        metric="balanced_accuracy",
        positive="anomaly",
        splits=make_splits(x, labels, parts),
        seed=seed,
        batch_size=256,  # 29k rows of 9 numbers: batches of 64 would spend most of an epoch in Python
        description="anomaly detection on 9 NASA Space Shuttle sensor readings (UCI Statlog Shuttle, "
        "ODDS variant via river), 49,097 rows, 7.2 % anomalies: always answering 'normal' "
        "scores 92.8 % accuracy but only 50 % balanced accuracy",
    )


SPOKEN_FRAMES = 32  # frames kept per recording: 98 % of FSDD recordings are at most 32 MFCC frames long


def spoken_digits(seed: int) -> Task:
    """Return spoken digits (FSDD) as 32 frames x 13 MFCCs, 10 classes."""
    with np.load(verified_path("spoken_digits/spoken_digits.npz")) as f:
        frames, lengths, labels = f["mfcc"], f["lengths"].astype(np.int64), f["labels"]
    parts = split_indices(labels, seed)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Standardise each MFCC coefficient with the train split's real frames only.
    train_frames = np.concatenate([frames[starts[i] : starts[i] + lengths[i]] for i in parts["train"]])
    frames = (frames - train_frames.mean(0)) / train_frames.std(0)
    # Pad short recordings at the end with zeros (the train mean after standardising); crop long ones centred.
    x = np.zeros((len(labels), SPOKEN_FRAMES, frames.shape[1]), dtype=np.float32)
    for i, (start, n) in enumerate(zip(starts, lengths, strict=True)):
        skip = max(0, (n - SPOKEN_FRAMES) // 2)
        keep = min(n, SPOKEN_FRAMES)
        x[i, :keep] = frames[start + skip : start + skip + keep]
    return Task(
        name="spoken_digits",
        domain="wearables",
        input_shape=(1, SPOKEN_FRAMES, 13),
        classes=[str(d) for d in range(10)],
        metric="accuracy",
        splits=make_splits(torch.from_numpy(x).unsqueeze(1), labels, parts),
        seed=seed,
        description="keyword spotting: spoken digits 0-9 (Free Spoken Digit Dataset, 6 speakers), "
        "3,000 recordings as 32 frames x 13 MFCCs",
    )


ACTIVITIES = ["walking", "upstairs", "downstairs", "sitting", "standing", "lying"]
ACTIVITY_WINDOW, ACTIVITY_HOP = 128, 64  # 2.56 s at 50 Hz, windows overlapping by half (as in UCI HAR)
ACTIVITY_HELD_OUT = 6  # people in each of the test and validation splits; the other 18 are for training


def _activity_windows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every window (float32 [N, 6, 128]: acc in g, gyro in rad/s), its activity and its user id."""
    with np.load(verified_path("activity/activity.npz")) as f:
        signals = f["signals"].astype(np.float32) * f["steps"][:, None]
        lengths, labels, users = f["lengths"].astype(np.int64), f["labels"], f["users"]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # Windows never cross the end of a bout, so each holds one activity of one person.
    first = [
        s + hop for s, n in zip(starts, lengths, strict=True) for hop in range(0, n - ACTIVITY_WINDOW + 1, ACTIVITY_HOP)
    ]
    per_bout = np.maximum(0, (lengths - ACTIVITY_WINDOW) // ACTIVITY_HOP + 1)
    windows = np.lib.stride_tricks.sliding_window_view(signals, ACTIVITY_WINDOW, axis=1)[:, first]
    return np.ascontiguousarray(windows.transpose(1, 0, 2)), np.repeat(labels, per_bout), np.repeat(users, per_bout)


def _activity_parts(users: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Return window indices per split: whole people are held out (seeded), so no one is in two splits."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.unique(users))
    people = {
        "train": order[2 * ACTIVITY_HELD_OUT :],
        "val": order[ACTIVITY_HELD_OUT : 2 * ACTIVITY_HELD_OUT],
        "test": order[:ACTIVITY_HELD_OUT],
    }
    # Shuffled, so that quick mode's first half of train still mixes all training people.
    return {name: rng.permutation(np.flatnonzero(np.isin(users, ids))) for name, ids in people.items()}


def activity(seed: int) -> Task:
    """Return smartphone activity recognition (UCI HAPT): 6 activities, 2.56 s of acc + gyro, split by person."""
    x, labels, users = _activity_windows()
    parts = _activity_parts(users, seed)
    train = x[parts["train"]]
    x = (x - train.mean(axis=(0, 2), keepdims=True)) / train.std(axis=(0, 2), keepdims=True)
    # Balanced accuracy: stair bouts are 1.5x as common as the others and each split's mix depends on its people.
    return Task(
        name="activity",
        domain="wearables",
        input_shape=(6, ACTIVITY_WINDOW),
        classes=ACTIVITIES,
        metric="balanced_accuracy",
        splits=make_splits(torch.from_numpy(x), labels, parts),
        seed=seed,
        sample_rate=50.0,
        description=f"human activity recognition from a waist-worn smartphone's accelerometer and gyroscope "
        f"(UCI HAPT, 30 people), {len(labels):,} windows of 2.56 s at 50 Hz x 6 channels; "
        f"split by person: the {ACTIVITY_HELD_OUT} test and {ACTIVITY_HELD_OUT} validation "
        f"people are never seen in training (see activity_users)",
    )


def activity_users(seed: int = 0) -> dict[str, np.ndarray]:
    """Return the user id (1-30) of every window of each split of ``activity(seed)``, in the splits' order."""
    _, _, users = _activity_windows()
    # make_splits applies the very rule (and quick-mode halving) that builds the task's own splits.
    splits = make_splits(torch.from_numpy(users.astype(np.int64)), users, _activity_parts(users, seed))
    return {name: ds.tensors[1].numpy() for name, ds in splits.items()}


def faces(seed: int) -> Task:
    """Return face detection: 25x25 grey patches (LFW subset from scikit-image), face or non-face."""
    with np.load(verified_path("faces/faces.npz")) as f:
        images, labels = f["images"].astype(np.float32) / f["levels"].item(), f["labels"]
    parts = split_indices(labels, seed)
    train = images[parts["train"]]
    x = torch.from_numpy(((images - train.mean()) / train.std()).astype(np.float32)).unsqueeze(1)
    return Task(
        name="faces",
        domain="wearables",
        input_shape=(1, 25, 25),
        classes=["non-face", "face"],
        metric="accuracy",
        positive="face",
        splits=make_splits(x, labels, parts),
        seed=seed,
        description="face detection: 200 grey 25x25 patches from Labeled Faces in the Wild (scikit-image's "
        "lfw_subset), 100 faces and 100 background patches; the test split holds only 40 "
        "(one error = 2.5 points)",
    )


def ecg(seed: int) -> Task:
    """Return SYNTHETIC single-lead ECG windows labelled by rhythm, generated by ``ll.ecg``."""
    from lightlab.data import ecg as generator

    return generator.task(seed)


def lidar(seed: int) -> Task:
    """Return SYNTHETIC 2-D laser scans labelled with the robot's action, generated by ``ll.lidar``."""
    from lightlab.data import lidar as generator

    return generator.load(seed)


LOADERS: dict[str, Callable[[int], Task]] = {
    "digits": digits,
    "shuttle": shuttle,
    "spoken_digits": spoken_digits,
    "activity": activity,
    "faces": faces,
    "ecg": ecg,
    "lidar": lidar,
}


def names() -> list[str]:
    """Return the names of all tasks that ``load`` accepts."""
    return sorted(LOADERS)


def load(name: str, seed: int = 0) -> Task:
    """Return the Task called ``name`` with a fixed, seeded train/val/test split."""
    if name not in LOADERS:
        raise DataError(f"unknown task {name!r}; available tasks: {', '.join(names())}")
    return LOADERS[name](seed)

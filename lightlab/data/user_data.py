"""Your own data from a file: an ``.npz`` with arrays ``x`` and ``y``, a ``.csv`` with a ``y`` column, or a folder
of images with one subfolder per class; each becomes a ``Task`` with a seeded train/val/test split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lightlab.data.tasks import DataError, Task

IMAGES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def load_data(path: str | Path, seed: int = 0, image_size: int = 64) -> Task:
    """Return a Task of the data at ``path`` (.npz, .csv or a folder of class subfolders of images)."""
    path = Path(path)
    if path.is_dir():
        return _images(path, seed, image_size)
    if not path.is_file():
        raise DataError(f"data {path} does not exist; give an .npz with x and y, a .csv with a y column, or a folder")
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as arrays:  # never unpickle a user's file
            if not {"x", "y"} <= set(arrays.files):
                raise DataError(f"{path.name} holds arrays {sorted(arrays.files)}; name the inputs x and the labels y")
            x, y = arrays["x"], arrays["y"]
        return Task.from_arrays(x, y, name=path.stem, seed=seed)
    if path.suffix.lower() == ".csv":
        import pandas as pd

        table = pd.read_csv(path)
        if "y" not in table.columns:
            raise DataError(f"{path.name} has columns {list(table.columns)[:6]}; name the label column y")
        features = table.drop(columns="y")
        text = [c for c in features.columns if not np.issubdtype(features[c].dtype, np.number)]
        if text:
            raise DataError(f"{path.name}: columns {text[:4]} are not numbers; encode them as numbers first")
        return Task.from_arrays(features.to_numpy(np.float32), table["y"].to_numpy(), name=path.stem, seed=seed)
    raise DataError(f"cannot read {path.name}: give an .npz with x and y, a .csv with a y column, or a folder")


def _images(folder: Path, seed: int, size: int) -> Task:
    """Images in ``folder/CLASS/*.png`` (and jpg, ...) as RGB tensors [3, size, size] in 0..1, classes sorted."""
    from PIL import Image

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    files = [
        (f, i) for i, c in enumerate(classes) for f in sorted((folder / c).iterdir()) if f.suffix.lower() in IMAGES
    ]
    if not files:
        raise DataError(f"{folder} holds no images in class subfolders; arrange them as {folder}/CLASS/image.png")
    x = np.stack([
        np.asarray(Image.open(f).convert("RGB").resize((size, size)), dtype=np.float32).transpose(2, 0, 1) / 255
        for f, _ in files
    ])  # fmt: skip
    return Task.from_arrays(x, [i for _, i in files], name=folder.name, classes=classes, seed=seed)

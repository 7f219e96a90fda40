"""Model zoo: ``create(name)`` builds an architecture, ``pretrained(name)`` loads shipped, hash-checked weights.

Every pretrained model was trained on this kind of machine by ``lightlab train --task T --model NAME``
(``ll.recipes.train_from_scratch``), which reproduces the weights from the same seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from lightlab import config
from lightlab.models import packaged
from lightlab.models.packaged import WeightsError


def cnn(
    in_shape: tuple[int, int, int],
    classes: int,
    channels: tuple[int, int] = (64, 128),
    hidden: int = 512,
    dropout: float = 0.25,
    seed: int | None = 0,
    conv: type[nn.Conv2d] = nn.Conv2d,
    linear: type[nn.Linear] = nn.Linear,
) -> nn.Sequential:
    """Return a two-conv CNN (conv-conv-pool, then a hidden Linear layer) for ``in_shape`` images, seeded.

    ``conv`` and ``linear`` are the layer types (subclasses such as slimmable layers build the same network).
    """
    if seed is not None:
        config.seed_everything(seed)
    c, h, w = in_shape
    c1, c2 = channels
    return nn.Sequential(
        conv(c, c1, 3, padding=1),
        nn.ReLU(),
        conv(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),  # channel-major: the first k channels are the first k*h*w features
        linear(c2 * (h // 2) * (w // 2), hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        linear(hidden, classes),
    )


def cnn1d(
    in_shape: tuple[int, int],
    classes: int,
    channels: tuple[int, ...] = (32, 64),
    kernel: int = 5,
    pool: int = 2,
    hidden: int = 128,
    dropout: float = 0.25,
    seed: int | None = 0,
) -> nn.Sequential:
    """Return a 1-D CNN for [channels, time] signals: (conv-ReLU-maxpool) per channel count, then an MLP head.

    ``hidden=0`` ends with a single Linear layer: at batch 1 each layer costs microseconds of framework overhead
    whatever its size, so for a tiny model fewer layers matter more than fewer multiply-adds.
    """
    if seed is not None:
        config.seed_everything(seed)
    c, length = in_shape
    layers: list[nn.Module] = []
    for width in channels:
        layers += [nn.Conv1d(c, width, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool1d(pool)]
        c, length = width, length // pool
    if length < 1:
        raise ValueError(
            f"{len(channels)} pooling stages of {pool} leave nothing of a length-{in_shape[1]} signal; "
            f"use fewer stages or a smaller pool"
        )
    layers.append(nn.Flatten())
    if hidden:
        layers += [nn.Linear(c * length, hidden), nn.ReLU(), nn.Dropout(dropout)]
        c, length = hidden, 1
    return nn.Sequential(*layers, nn.Linear(c * length, classes))


def mlp(in_features: int, classes: int, hidden: tuple[int, ...] = (32,), seed: int | None = 0) -> nn.Sequential:
    """Return a flatten-then-MLP classifier with ReLU between ``hidden`` layers, seeded."""
    if seed is not None:
        config.seed_everything(seed)
    layers: list[nn.Module] = [nn.Flatten()]
    for width in hidden:
        layers += [nn.Linear(in_features, width), nn.ReLU()]
        in_features = width
    layers.append(nn.Linear(in_features, classes))
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry: its task, how to build it, and how it was trained."""

    name: str
    task: str
    build: Callable[[], nn.Module]
    description: str
    epochs: int = 30
    lr: float = 1e-3
    seed: int = 0
    weight_decay: float = 0.0
    patience: int = 10
    teacher: str | None = None  # when set, the model is distilled from this zoo model (lightlab.distill)


# Builders get seed=None: ``create`` seeds once, so its ``seed`` argument really changes the initialisation.
# fmt: off
# A table: one entry per model, read across (the formatter would give each argument its own line).
_SPECS = {spec.name: spec for spec in [
    ModelSpec("digits-large", "digits", lambda: cnn((1, 8, 8), 10, seed=None),
              "CNN conv64-conv128-fc512, ~1.1 M parameters"),
    ModelSpec("digits-small", "digits", lambda: mlp(64, 10, (32,), seed=None),
              "MLP 64-32-10, 2,410 parameters", epochs=60, lr=1e-2),
    ModelSpec("spoken_digits-large", "spoken_digits", lambda: cnn((1, 32, 13), 10, channels=(32, 64),
                                                                             hidden=256, seed=None),
              "keyword spotting CNN conv32-conv64-fc256 on 32x13 MFCCs, ~1.6 M parameters", epochs=30, patience=8),
    ModelSpec("spoken_digits-small", "spoken_digits", lambda: mlp(32 * 13, 10, (64,), seed=None),
              "keyword spotting MLP 416-64-10 on 32x13 MFCCs, 27,338 parameters", epochs=40),
    ModelSpec("activity-large", "activity", lambda: cnn1d((6, 128), 6, channels=(64, 128, 256), hidden=256,
                                                          seed=None),
              "activity recognition 1-D CNN conv64-conv128-conv256-fc256 on 2.56 s of acc + gyro, 1,257,542 "
              "parameters"),
    ModelSpec("activity-small", "activity", lambda: cnn1d((6, 128), 6, channels=(8,), pool=8, hidden=32, seed=None),
              "activity recognition 1-D CNN conv8-maxpool8-fc32 on 2.56 s of acc + gyro, 4,574 parameters"),
    ModelSpec("faces-large", "faces", lambda: cnn((1, 25, 25), 2, channels=(32, 64), hidden=128, seed=None),
              "face detection CNN conv32-conv64-fc128 on 25x25 grey patches, 1,198,850 parameters"),
    ModelSpec("faces-small", "faces", lambda: mlp(25 * 25, 2, (16,), seed=None),
              "face detection MLP 625-16-2 on 25x25 grey patches, 10,050 parameters"),
    ModelSpec("shuttle-large", "shuttle", lambda: mlp(9, 2, (768, 768, 768, 768), seed=None),
              "sensor anomaly detector MLP 9-768x4-2 on 9 NASA shuttle readings, 1,780,994 parameters",
              epochs=8, patience=4),
    ModelSpec("shuttle-small", "shuttle", lambda: mlp(9, 2, (16,), seed=None),
              "sensor anomaly detector MLP 9-16-2 on 9 NASA shuttle readings, 194 parameters", epochs=60, lr=1e-2),
    ModelSpec("ecg-large", "ecg", lambda: cnn1d((1, 512), 3, channels=(32, 64, 128, 128), kernel=7,
                                                         hidden=128, seed=None),
              "heart-rhythm 1-D CNN conv32-64-128-128-fc128 on 4.1 s of synthetic single-lead ECG, 711,747 "
              "parameters", epochs=14, patience=8),
    ModelSpec("ecg-small", "ecg", lambda: cnn1d((1, 512), 3, channels=(16, 32), kernel=9, pool=8, hidden=0, seed=None),
              "wearable heart-rhythm 1-D CNN conv16-conv32 (kernel 9, pool 8) on 4.1 s of synthetic ECG, 5,571 "
              "parameters, distilled from ecg-large", epochs=40, lr=3e-3, teacher="ecg-large"),
    ModelSpec("lidar-large", "lidar", lambda: cnn1d((1, 64), 4, channels=(64, 128, 256), hidden=512, seed=None),
              "robot action from a synthetic 64-beam lidar scan: 1-D CNN conv64-conv128-conv256-fc512, 1,256,708 "
              "parameters", epochs=20, patience=8),
    ModelSpec("lidar-small", "lidar", lambda: nn.Sequential(nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4),
                                                           nn.Flatten(), nn.Linear(16 * 16, 4)),
              "robot action from a synthetic 64-beam lidar scan: 1-D CNN conv16-maxpool4 and a linear readout, "
              "1,124 parameters", epochs=60, lr=1e-2),
]}
# fmt: on

# sha256 of the shipped weight files, written by `lightlab train`; a mismatch refuses to load.
SHA256 = {
    "digits-large": "42f4786e79e59eb81ed8f8eb60df774f7fc34c52e6e434a501161fa7482df4d2",
    "digits-small": "c1b5c4117528b0dade828885103fab60d8eb106d2a3a00c719e44b9d25e1491f",
    "spoken_digits-large": "ce8d8f6441b9a746408fda8221f24ba4f270edc0a7e334db289df00b8d5cd23e",
    "spoken_digits-small": "f23d535ffd49352ff4cd83cac001bdb03bef5f228855ea948d46de4f553fec9a",
    "activity-large": "5aa0144a857ab0597eae8515ca4797801c2311f36ae6c3b4918dcd4b0a7fad29",
    "activity-small": "a9fc690ba9e9a202ba17a5d9cacd0907624dd70d520c0544ed017f0754f4da65",
    "faces-large": "aa83bbc2c2657995d774a693357bf3d7613bf8552490bb99f44e9628635cca91",
    "faces-small": "fc42fb19a61ffbb3c9d0e8869327f08ec77b972c1a4e5600956743a378df1328",
    "lidar-large": "1657ec79aec9f00643a7ce5eae7704d8f4db9a281620225369bf8ea614f12ed7",
    "lidar-small": "aedfaf9a1e14f8a630b3d314f104b5ecf3a3b4c82f4e625b42f49198b1cd3918",
    "shuttle-large": "7618954d46a89ea8eceea56f1f16807dbd1627f21da91a1b4678c5b41d8e10da",
    "shuttle-small": "8417d88f270f2e8874dde60711137b96edd73317aa23c955de39eeaaf7af4da8",
    "ecg-large": "93653231e681f0895d4aa918501df079a221de95c634c4583e568a2b5a597d65",
    "ecg-small": "9b9f6f187e7f2c4416f175f4a400af72bd3b9b2078943b7f1ff450d423c16008",
}


def names(task: str | None = None) -> list[str]:
    """Return the zoo's model names, optionally only those for ``task``."""
    return sorted(n for n, s in _SPECS.items() if task is None or s.task == task)


def spec(name: str) -> ModelSpec:
    """Return the ModelSpec for ``name``, or raise listing the valid names."""
    if name not in _SPECS:
        raise KeyError(
            f"unknown model {name!r}; available models: {', '.join(names())}; real pretrained models "
            f"(zoo.pretrained only): {', '.join(packaged.names())}"
        )
    return _SPECS[name]


def resolve(name: str, task: str) -> str:
    """Return the full zoo name for a short one ('large' with task 'digits' -> 'digits-large')."""
    return name if name in _SPECS else f"{task}-{name}"


def create(name: str, seed: int = 0) -> nn.Module:
    """Return a freshly initialised (seeded) model of the named architecture."""
    s = spec(name)
    config.seed_everything(seed)
    return s.build()


def weights_path(name: str) -> Path:
    """Return where the weights of ``name`` are shipped."""
    return config.WEIGHTS_DIR / f"{name}.safetensors"


def check_weights(name: str, path: Path | None = None) -> Path:
    """Return the weight file of ``name`` after checking it exists and its sha256 matches."""
    path = Path(path or weights_path(name))
    fix = (
        f"restore the shipped file with `git checkout -- lightlab/weights/{path.name}` (in a clone) or "
        "`pip install --force-reinstall --no-deps lightlab` (installed). Retraining (`lightlab train`) gives these "
        "very bytes only on the CPU model and library versions that made them, so it is no repair"
    )
    if not path.is_file():
        raise WeightsError(f"weight file {path} for {name!r} is missing; {fix}")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != SHA256.get(name):
        raise WeightsError(
            f"weight file {path} for {name!r} has sha256 {actual}, expected "
            f"{SHA256.get(name)}: refusing to load a corrupted or foreign file; {fix}"
        )
    return path


def pretrained(name: str) -> nn.Module:
    """Return the named model in eval mode with its weights (sha256-checked before loading).

    Zoo models load the weights shipped in ``lightlab/weights``; the real pretrained models of ``packaged.names()``
    (SmolLM2, MiniLM, EfficientNet-Lite0) load from the PyPI packages that carry them.
    """
    if name in packaged.CARDS:
        return packaged.load(name)
    model = create(name)
    model.load_state_dict(load_file(check_weights(name)))
    return model.eval()


def save(model: nn.Module, path: Path) -> str:
    """Write ``model``'s weights as safetensors and return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with config.atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    return hashlib.sha256(path.read_bytes()).hexdigest()

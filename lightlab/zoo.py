"""Model zoo: ``create(name)`` builds an architecture, ``pretrained(name)`` loads shipped, hash-checked weights.

Every pretrained model was trained on this kind of machine by ``lightlab train --task T --model NAME``
(``train_from_scratch`` below), which reproduces the weights from the same seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file
from torch import nn

from lightlab import config
from lightlab.data import Task


class WeightsError(RuntimeError):
    """A weight file is missing, corrupted or does not fit its architecture."""


def cnn(in_shape: tuple[int, int, int], classes: int, channels: tuple[int, int] = (64, 128),
        hidden: int = 512, dropout: float = 0.25, seed: int | None = 0) -> nn.Sequential:
    """Return a two-conv CNN (conv-conv-pool, then a hidden Linear layer) for ``in_shape`` images, seeded."""
    if seed is not None:
        config.seed_everything(seed)
    c, h, w = in_shape
    c1, c2 = channels
    return nn.Sequential(
        nn.Conv2d(c, c1, 3, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(c2 * (h // 2) * (w // 2), hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, classes),
    )


def cnn1d(in_shape: tuple[int, int], classes: int, channels: tuple[int, ...] = (32, 64), kernel: int = 5,
          pool: int = 2, hidden: int = 128, dropout: float = 0.25, seed: int | None = 0) -> nn.Sequential:
    """Return a 1-D CNN for [channels, time] signals: (conv-ReLU-maxpool) per channel count, then an MLP head."""
    if seed is not None:
        config.seed_everything(seed)
    c, length = in_shape
    layers: list[nn.Module] = []
    for width in channels:
        layers += [nn.Conv1d(c, width, kernel, padding=kernel // 2), nn.ReLU(), nn.MaxPool1d(pool)]
        c, length = width, length // pool
    if length < 1:
        raise ValueError(f"{len(channels)} pooling stages of {pool} leave nothing of a length-{in_shape[1]} signal; "
                         f"use fewer channels stages or a smaller pool")
    layers += [nn.Flatten(), nn.Linear(c * length, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes)]
    return nn.Sequential(*layers)


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


_SPECS = {spec.name: spec for spec in [
    ModelSpec("digits-large", "digits", lambda: cnn((1, 8, 8), 10),
              "CNN conv64-conv128-fc512, ~1.1 M parameters"),
    ModelSpec("digits-small", "digits", lambda: mlp(64, 10, (32,)),
              "MLP 64-32-10, 2,410 parameters", epochs=60, lr=1e-2),
]}

# sha256 of the shipped weight files, written by `lightlab train`; a mismatch refuses to load.
SHA256 = {
    "digits-large": "42f4786e79e59eb81ed8f8eb60df774f7fc34c52e6e434a501161fa7482df4d2",
    "digits-small": "c1b5c4117528b0dade828885103fab60d8eb106d2a3a00c719e44b9d25e1491f",
}


def names(task: str | None = None) -> list[str]:
    """Return the zoo's model names, optionally only those for ``task``."""
    return sorted(n for n, s in _SPECS.items() if task is None or s.task == task)


def spec(name: str) -> ModelSpec:
    """Return the ModelSpec for ``name``, or raise listing the valid names."""
    if name not in _SPECS:
        raise KeyError(f"unknown model {name!r}; available models: {', '.join(names())}")
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
    fix = f"restore it with `git checkout -- lightlab/weights/{path.name}` or retrain it with " \
          f"`lightlab train --task {spec(name).task} --model {name}`"
    if not path.is_file():
        raise WeightsError(f"weight file {path} for {name!r} is missing; {fix}")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != SHA256.get(name):
        raise WeightsError(f"weight file {path} for {name!r} has sha256 {actual}, expected "
                           f"{SHA256.get(name)}: refusing to load a corrupted or foreign file; {fix}")
    return path


def pretrained(name: str) -> nn.Module:
    """Return the named model in eval mode with its shipped weights (sha256-checked before loading)."""
    model = create(name)
    model.load_state_dict(load_file(check_weights(name)))
    return model.eval()


def save(model: nn.Module, path: Path) -> str:
    """Write ``model``'s weights as safetensors and return the file's sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_from_scratch(name: str, task: Task | None = None, progress: bool = True):
    """Return (model, history) after training ``name`` from its seeded initialisation on its task.

    A spec with a ``teacher`` is distilled from that (shipped) zoo model instead of trained on labels alone.
    """
    from lightlab import data, distill, train

    s = spec(name)
    task = task or data.load(s.task, seed=s.seed)
    model = create(name, seed=s.seed)
    loss_fn = None
    if s.teacher:
        task, loss_fn = distill.kd_task(pretrained(s.teacher), task, distill.DistillConfig(seed=s.seed))
    history = train.fit(model, task, epochs=s.epochs, lr=s.lr, weight_decay=s.weight_decay, patience=s.patience,
                        seed=s.seed, progress=progress, loss_fn=loss_fn)
    return model, history

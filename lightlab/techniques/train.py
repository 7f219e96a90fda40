"""Training and evaluation: ``fit_`` (in place, seeded, early stopping on the validation score) and ``evaluate``."""

from __future__ import annotations

import contextlib
import copy
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lightlab import config
from lightlab.data.tasks import Task, check_inputs
from lightlab.measurement import meter, metrics


@dataclass
class History:
    """What ``fit_`` did: per-epoch loss and validation score (the task's metric), the best epoch, the time."""

    metric: str = "accuracy"
    train_loss: list[float] = field(default_factory=list)
    val_scores: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0
    joules: float | None = None  # with fit_(..., energy=True): the training's energy, labelled by energy_method
    energy_method: str | None = None
    energy_note: str | None = None

    @property
    def best_val_score(self) -> float:
        """Return the validation score of the weights kept."""
        return self.val_scores[self.best_epoch]


def evaluate(model: nn.Module, data: Task | DataLoader, split: str = "test", metric: str | None = None) -> float:
    """Return ``metric`` (default: the task's own, or accuracy for a DataLoader) of ``model``, in 0..1."""
    if isinstance(data, Task):
        loader, metric, classes = data.loader(split, batch_size=256), metric or data.metric, data.num_classes
    else:
        loader, metric, classes = data, metric or "accuracy", None
    y, pred = metrics.predictions(model, loader)
    return metrics.score(metric, metrics.confusion(y, pred, classes or int(max(y.max(), pred.max())) + 1))


def fit_(
    model: nn.Module,
    task: Task,
    epochs: int | None = None,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 5,
    seed: int = 0,
    progress: bool = True,
    loss_fn: nn.Module | None = None,
    energy: bool = False,
) -> History:
    """Train ``model`` in place with Adam, keep the weights with the best validation score, return History.

    The score is the task's metric (accuracy, or e.g. balanced accuracy on unbalanced data); training stops
    early when it has not improved for ``patience`` epochs. ``energy=True`` tracks the training with CodeCarbon:
    ``History.joules`` beside ``History.seconds``, with its method.
    """
    if not isinstance(task, Task):
        raise TypeError(
            f"fit_ trains on a Task (train, val and test splits), got {type(task).__name__}; wrap your data first: "
            "ll.Task.from_loader(loader) or ll.Task.from_arrays(x, y)"
        )
    epochs = config.epochs(epochs, 30, 6)
    config.seed_everything(seed)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    train_loader = task.loader("train")
    train_loader.generator.manual_seed(seed)
    history, best_state, start = History(task.metric), None, time.perf_counter()
    tracking = meter.tracked() if energy else contextlib.nullcontext({})
    # Closed on every exit (early stop, error, Ctrl-C): a bar left open turns red and stays on screen.
    with (
        tracking as used,
        tqdm(range(epochs), desc=f"fit {type(model).__name__}", disable=not progress, leave=False) as bar,
    ):
        for epoch in bar:
            model.train()
            total, n = 0.0, 0
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = loss_fn(model(check_inputs(x)), y)
                loss.backward()
                optimizer.step()
                total, n = total + loss.item() * len(y), n + len(y)
            history.train_loss.append(total / n)
            history.val_scores.append(evaluate(model, task, "val"))
            if history.best_epoch < 0 or history.val_scores[-1] > history.best_val_score:
                history.best_epoch, best_state = epoch, copy.deepcopy(model.state_dict())
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{history.val_scores[-1]:.3f}")
            if epoch - history.best_epoch >= patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    history.joules, history.energy_method, history.energy_note = (
        used.get("joules"),
        used.get("method"),
        used.get("note"),
    )
    return history

"""How each zoo model is trained: the recipe behind the shipped weights, and one seeded training trial.

``train_from_scratch(name)`` reproduces a zoo model from its spec (``lightlab train NAME`` runs it);
``train_trial`` is the ready-made trial that ``ll.sweep.run`` spreads over seeds and workers.
"""

from __future__ import annotations

import functools

from lightlab import config
from lightlab.data import loaders
from lightlab.data.tasks import Task
from lightlab.measurement.measure import count_params
from lightlab.models import zoo
from lightlab.techniques import distill, train


def train_from_scratch(name: str, task: Task | None = None, progress: bool = True):
    """Return (model, history) after training ``name`` from its seeded initialisation on its task.

    A spec with a ``teacher`` is distilled from that (shipped) zoo model instead of trained on labels alone.
    """
    s = zoo.spec(name)
    task = task or loaders.load(s.task, seed=s.seed)
    model = zoo.create(name, seed=s.seed)
    loss_fn = None
    if s.teacher:
        task, loss_fn = distill.kd_task(zoo.pretrained(s.teacher), distill.DistillConfig(seed=s.seed), task=task)
    history = _fit_spec(model, task, s, epochs=s.epochs, seed=s.seed, progress=progress, loss_fn=loss_fn)
    return model, history


def _fit_spec(model, task: Task, spec: zoo.ModelSpec, **settings) -> train.History:
    """Train ``model`` with ``spec``'s learning rate, weight decay and patience, plus ``settings``."""
    return train.fit_(model, task, lr=spec.lr, weight_decay=spec.weight_decay, patience=spec.patience, **settings)


@functools.lru_cache(maxsize=4)
def _task(name: str, quick: bool):
    """Return the task, loaded once per worker process (quick mode loads other subsets, hence the key)."""
    return loaders.load(name)


def train_trial(task: str = "digits", model: str = "small", seed: int = 0, epochs: int | None = None) -> dict:
    """Train a zoo architecture from ``seed`` on labels and return its validation and test scores: a ready trial.

    ``seed`` goes to ``zoo.create`` (the initialisation) and to ``train.fit_`` (the order of the training batches);
    the split is the task's fixed one, so every trial is scored on the same test set.
    """
    name = zoo.resolve(model, task)
    spec = zoo.spec(name)
    if spec.task != task:
        raise ValueError(
            f"model {name!r} belongs to task {spec.task!r}, not {task!r}; pick one of {', '.join(zoo.names(task))}"
        )
    data = _task(task, config.quick())
    net = zoo.create(name, seed=seed)
    history = _fit_spec(net, data, spec, epochs=config.epochs(epochs, spec.epochs, 10), seed=seed, progress=False)
    return {
        f"val_{data.metric}": history.best_val_score,
        f"test_{data.metric}": train.evaluate(net, data),
        "epochs": len(history.val_scores),
        "parameters": count_params(net),
    }

"""Hardware-aware neural architecture search: a search space, a measured latency table, Optuna search, Pareto front.

NAS has three parts: the **space** (here depth, width, kernel size and block type), the **strategy** (random,
evolutionary NSGA-II or Bayesian TPE, all Optuna samplers) and the **performance estimate** (a few epochs of
training on the train split, scored on the validation split). Latency is not timed per candidate: a lookup table
measured once on this machine (``lightlab/techniques/nas_latency.py``) predicts it from per-layer timings.
Its figure and explorer are in ``ll.views.nas``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement import measure
from lightlab.measurement.report import Report
from lightlab.measurement.stats import Paired
from lightlab.models import blocks, zoo
from lightlab.techniques import train
from lightlab.techniques.nas_latency import LatencyTable, check_predictions, measure_table

SEARCH_KINDS = ("mlp", *blocks.KINDS)


@dataclass(frozen=True)
class Space:
    """The choices a search may combine: block type, depth (hidden layers or blocks), width and kernel size."""

    kinds: tuple[str, ...] = ("mlp", "conv", "dwsep")
    depths: tuple[int, ...] = (0, 1, 2)
    widths: tuple[int, ...] = (16, 32, 64, 128, 256)
    kernels: tuple[int, ...] = (3,)

    def __post_init__(self) -> None:
        for name in ("kinds", "depths", "widths", "kernels"):
            if not getattr(self, name):
                raise ValueError(f"Space {name} is empty: give at least one, e.g. Space({name}={getattr(Space, name)})")
        unknown = [k for k in self.kinds if k not in SEARCH_KINDS]
        if unknown:
            raise ValueError(f"Space kinds has unknown block kinds {unknown}; choose from {', '.join(SEARCH_KINDS)}")
        if min(self.depths) < 0 or min(self.widths) < 1 or any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(
                f"Space needs depths >= 0, widths >= 1 and odd kernels >= 1; got depths={self.depths}, "
                f"widths={self.widths}, kernels={self.kernels}"
            )


@dataclass(frozen=True)
class Candidate:
    """One architecture: ``depth`` hidden Linear layers (mlp) or stride-2 blocks (conv kinds) of ``width``."""

    kind: str
    depth: int
    width: int
    kernel: int = 3

    def build(self, input_shape: tuple[int, ...], classes: int, seed: int = 0) -> nn.Sequential:
        """Return the seeded model; conv kinds end with global average pooling and a Linear head."""
        if self.kind == "mlp" or self.depth == 0:
            return zoo.mlp(
                math.prod(input_shape), classes, (self.width,) * (self.depth if self.kind == "mlp" else 0), seed=seed
            )
        config.seed_everything(seed)
        c = input_shape[0]
        layers: list[nn.Module] = []
        for _ in range(self.depth):
            layers.append(blocks.make(self.kind, c, self.width, self.kernel, stride=2))
            c = self.width
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes))

    def __str__(self) -> str:
        if self.depth == 0:  # no hidden layer: the same linear classifier whatever the kind, width or kernel
            return "linear"
        return f"{self.kind} d{self.depth} w{self.width}" + ("" if self.kind == "mlp" else f" k{self.kernel}")


def candidates(space: Space, input_shape: tuple[int, ...]) -> list[Candidate]:
    """Return every distinct architecture of ``space`` for inputs of ``input_shape``, or raise naming the fix."""
    if any(k != "mlp" for k in space.kinds):
        if len(input_shape) != 3:
            raise ValueError(
                f"conv kinds need image inputs (channels, height, width), got {input_shape}; use Space(kinds=('mlp',))"
            )
        deepest = int(math.log2(min(input_shape[1:])))  # each block halves the image; stop at 1 pixel
        if max(space.depths) > deepest:
            raise ValueError(
                f"depth {max(space.depths)} is impossible: each conv block halves the "
                f"{input_shape[1]}x{input_shape[2]} input, so at most {deepest} blocks fit; "
                f"use depths <= {deepest}"
            )
    found = {
        str(c): c
        for c in (
            Candidate(kind, d, w, k if kind != "mlp" else 3)
            for kind, d, w, k in itertools.product(space.kinds, space.depths, space.widths, space.kernels)
        )
    }
    return [found[name] for name in sorted(found)]


def latency_table(space: Space, task: Task, *, batch: int = 1, rounds: int | None = None) -> LatencyTable:
    """Return a LatencyTable measured on this machine for every layer that ``space`` can put in a model."""
    models = [c.build(task.input_shape, task.num_classes) for c in candidates(space, task.input_shape)]
    return measure_table(models, task.input_shape, batch, rounds)


@dataclass(frozen=True)
class SearchBudget:
    """Limits a candidate must meet: predicted latency (ms) and/or parameter count (None = no limit)."""

    latency_ms: float | None = None
    params: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ms is not None and not self.latency_ms > 0:  # NaN fails too
            raise ValueError(f"SearchBudget latency_ms must be > 0 ms or None (no limit), got {self.latency_ms}")
        if self.params is not None and not self.params >= 1:
            raise ValueError(f"SearchBudget params must be >= 1 or None (no limit), got {self.params}")

    def allows(self, latency_ms: float, params: int) -> bool:
        """Return True when a candidate with this latency and size fits the budget."""
        return (self.latency_ms is None or latency_ms <= self.latency_ms) and (
            self.params is None or params <= self.params
        )


def costs(space: Space, task: Task, table: LatencyTable) -> pd.DataFrame:
    """Return one row per candidate of ``space``: its predicted latency (ms) and parameter count."""
    rows = []
    for cand in candidates(space, task.input_shape):
        model = cand.build(task.input_shape, task.num_classes)
        rows.append(
            {
                **asdict(cand),
                "name": str(cand),
                "latency_ms": table.predict(model, task.input_shape),
                "params": measure.count_params(model),
            }
        )
    return pd.DataFrame(rows)


def check_budget(budget: SearchBudget, space_costs: pd.DataFrame) -> None:
    """Raise ValueError naming the tightest feasible budget when no candidate of the space fits ``budget``."""
    fits = [budget.allows(lat, p) for lat, p in zip(space_costs.latency_ms, space_costs.params, strict=True)]
    if any(fits):
        return
    fastest = space_costs.loc[space_costs.latency_ms.idxmin()]
    smallest = space_costs.loc[space_costs.params.idxmin()]
    raise ValueError(
        f"no candidate in the space meets {budget}: the tightest feasible latency budget is "
        f"{fastest.latency_ms:.4f} ms ({fastest['name']}) and the tightest feasible params budget is "
        f"{smallest.params} ({smallest['name']}); loosen the budget or add smaller choices to the space"
    )


SAMPLERS = {
    "random": optuna.samplers.RandomSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "tpe": optuna.samplers.TPESampler,
}


@dataclass(frozen=True)
class SearchConfig:
    """How to search: sampler ('random', 'nsga2' or 'tpe'), trials to train, epochs per trial (None: 15, quick
    mode 3), learning rate, seed, storage (a journal file: rerunning with it resumes the study)."""

    sampler: str = "nsga2"
    trials: int | None = None  # None: 40, quick mode 6
    epochs: int | None = None
    lr: float = 1e-2
    seed: int = 0
    storage: str | Path | None = None
    study_name: str = "nas"
    train_threads: int = 1  # tiny models train fastest on one thread, and far slower on two when a core is busy

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"SearchConfig sampler {self.sampler!r} is unknown; choose one of {', '.join(SAMPLERS)}")
        for name in ("trials", "epochs"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= 1):
                raise ValueError(f"SearchConfig {name} must be an integer >= 1 or None (the default), got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"SearchConfig lr must be > 0, got {self.lr}; 1e-2 suits these small models")
        if not (isinstance(self.train_threads, int) and self.train_threads >= 1):
            raise ValueError(f"SearchConfig train_threads must be an integer >= 1, got {self.train_threads!r}")
        if not self.study_name:
            raise ValueError("SearchConfig study_name is empty: name the study, e.g. 'nas'")


@dataclass
class SearchResult:
    """What a search did: the Optuna study, the latency table, and one row per trained candidate."""

    study: optuna.Study
    table: LatencyTable
    trials: pd.DataFrame
    budget: SearchBudget

    def best(self, budget: SearchBudget | None = None) -> Candidate:
        """Return the most accurate (on validation) trained candidate within ``budget`` (default: the search's)."""
        budget = budget or self.budget
        fits = self.trials[
            [budget.allows(a, b) for a, b in zip(self.trials.latency_ms, self.trials.params, strict=True)]
        ]
        if fits.empty:
            raise ValueError(f"no trained candidate meets {budget}; loosen it or search with more trials")
        row = fits.sort_values(["val_accuracy", "latency_ms", "params"], ascending=[False, True, True]).iloc[0]
        return Candidate(row.kind, int(row.depth), int(row.width), int(row.kernel))


def search(
    cfg: SearchConfig | None = None,
    *,
    task: Task,
    space: Space | None = None,
    budget: SearchBudget | None = None,
    table: LatencyTable | None = None,
    progress: bool = True,
) -> SearchResult:
    """Return a SearchResult: Optuna trains ``cfg.trials`` candidates of ``space`` within ``budget`` (maximise
    validation accuracy, minimise predicted latency and parameters); a stored study is resumed, not redone."""
    cfg, space, budget = cfg or SearchConfig(), space or Space(), budget or SearchBudget()
    trials = int(cfg.trials if cfg.trials is not None else config.pick(40, 6))
    epochs = config.epochs(cfg.epochs, 15, 3)
    table = table or latency_table(space, task)
    space_costs = costs(space, task, table)
    check_budget(budget, space_costs)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = None
    if cfg.storage is not None:
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(str(cfg.storage)))
    study = optuna.create_study(
        study_name=cfg.study_name, storage=storage, load_if_exists=True, directions=["maximize", "minimize", "minimize"]
    )
    # A resumed study restarts the sampler, so offset its seed by the trials already stored (still reproducible).
    study.sampler = SAMPLERS[cfg.sampler](seed=cfg.seed + len(study.trials))
    lookup = space_costs.set_index("name")
    # Each distinct architecture is trained once: ask for no more than the budget lets through.
    trials = min(trials, sum(budget.allows(a, b) for a, b in zip(lookup.latency_ms, lookup.params, strict=True)))
    bar = tqdm(
        total=trials,
        initial=min(len(_complete(study)), trials),
        desc=f"NAS ({cfg.sampler})",
        disable=not progress,
        leave=False,
    )

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:
        kind = trial.suggest_categorical("kind", space.kinds)
        cand = Candidate(
            kind,
            trial.suggest_categorical("depth", space.depths),
            trial.suggest_categorical("width", space.widths),
            trial.suggest_categorical("kernel", space.kernels) if kind != "mlp" else 3,
        )
        trial.set_user_attr("name", str(cand))
        latency, params = lookup.loc[str(cand), ["latency_ms", "params"]]
        # Over budget (known from the table, before any training) or already trained (seeded: same result).
        if not budget.allows(latency, params) or any(t.user_attrs["name"] == str(cand) for t in _complete(study)):
            raise optuna.TrialPruned()
        model = cand.build(task.input_shape, task.num_classes, seed=cfg.seed)
        with config.using_threads(cfg.train_threads):
            history = train.fit_(model, task, epochs=epochs, lr=cfg.lr, seed=cfg.seed, progress=False)
        bar.update()
        return history.best_val_score, float(latency), float(params)

    # Stop when `trials` candidates are trained in total (stored ones count); pruned ones are free but capped.
    stop = optuna.study.MaxTrialsCallback(trials, states=(optuna.trial.TrialState.COMPLETE,))
    try:
        if len(_complete(study)) < trials:
            study.optimize(objective, n_trials=20 * trials, callbacks=[stop])
        bar.total = bar.n  # done, even if the sampler found fewer new candidates: closed, not left red
    finally:
        bar.close()
    return SearchResult(study, table, _frame(study), budget)


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Return the trials that finished training (not pruned, not failed)."""
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))


def _frame(study: optuna.Study) -> pd.DataFrame:
    """Return one row per completed trial: architecture, validation accuracy, predicted latency, params."""
    rows = [
        (t.number, *(t.params[k] for k in ("kind", "depth", "width")), t.params.get("kernel", 3), t.user_attrs["name"])
        + (t.values[0], t.values[1], int(t.values[2]))
        for t in _complete(study)
    ]
    columns = ["trial", "kind", "depth", "width", "kernel", "name", "val_accuracy", "latency_ms", "params"]
    return pd.DataFrame(rows, columns=columns)


def pareto(
    points: pd.DataFrame,
    maximize: tuple[str, ...] = ("val_accuracy",),
    minimize: tuple[str, ...] = ("latency_ms", "params"),
) -> pd.DataFrame:
    """Return the rows of ``points`` that no other row dominates (as good in every objective, better in one)."""
    if points.empty:
        return points
    values = np.column_stack(
        [points[c].to_numpy(float) for c in maximize] + [-points[c].to_numpy(float) for c in minimize]
    )
    keep = [not any(np.all(other >= v) and np.any(other > v) for other in values) for v in values]
    return points[keep]


def retrain(
    cand: Candidate, cfg: SearchConfig | None = None, *, task: Task, epochs: int | None = None, progress: bool = True
) -> nn.Module:
    """Return ``cand`` trained from its seeded initialisation for the full schedule (the search trained briefly):
    ``epochs`` (None: 60, quick mode 15) with ``cfg``'s learning rate, seed and threads, patience 10."""
    cfg = cfg or SearchConfig()
    model = cand.build(task.input_shape, task.num_classes, seed=cfg.seed)
    with config.using_threads(cfg.train_threads):
        train.fit_(
            model, task, epochs=config.epochs(epochs, 60, 15), lr=cfg.lr, patience=10, seed=cfg.seed, progress=progress
        )
    return model


def compare_with_references(
    models: dict[str, nn.Module], task: Task, table: LatencyTable, *, rounds: int | None = None, split: str = "test"
) -> Report:
    """Return a Report of each model's accuracy on ``split``, params, size, and predicted and measured
    (``measure.interleaved``) p50 latency. Layers the table lacks are measured into a copy of it."""
    table = replace(table, entries=dict(table.entries))  # the caller's table is left as it was
    timings = measure.interleaved(models, task.example(table.batch), rounds=rounds)
    report = Report(environment=measure.environment())
    for name, model in models.items():
        report.add(
            name,
            "accuracy",
            100 * train.evaluate(model, task, split),
            "%",
            f"{split} split, {task.sizes()[split]} samples of {task.name!r}",
        )
        report.add(name, "params", measure.count_params(model), "count", "sum of parameter elements")
        size, how = measure.file_size(model)
        report.add(name, "size", size, "bytes", how)
        predicted = table.add(model, task.input_shape).predict(model, task.input_shape)
        report.add(name, "latency_predicted", predicted, "ms", table.method, note=table.note)
        measure.add_timing(report, name, timings[name])
    return report


def check_table(space: Space, task: Task, table: LatencyTable, *, count: int = 8, rounds: int | None = None) -> Report:
    """Return ``nas_latency.check_predictions`` for ``count`` candidates of ``space`` spread over its predicted
    latencies, from the fastest to the slowest: is the table fit to predict whole models?"""
    ranked = costs(space, task, table).sort_values("latency_ms").reset_index(drop=True)
    picks = ranked.iloc[np.linspace(0, len(ranked) - 1, count).round().astype(int)].drop_duplicates("name")
    models = {
        row.name: Candidate(row.kind, row.depth, row.width, row.kernel).build(task.input_shape, task.num_classes)
        for row in picks.itertuples()
    }
    return check_predictions(table, models, task.example(table.batch), rounds)


def _latency_metric(report: Report) -> str:
    """Return the report's measured p50 latency metric (``latency_p50_b1``, or a hand-made ``latency_p50``)."""
    return next(r["metric"] for r in report.rows if r["metric"].startswith("latency_p50"))


def resolution(report: Report, model: str, reference: str, tolerance: float = 0.05) -> float:
    """Return the latency difference (ms) within which two models count as "as fast": ``tolerance`` x the
    reference's p50 (stated, never widened by a noisy measurement)."""
    return tolerance * report.value(reference, _latency_metric(report))


def dominates(report: Report, model: str, reference: str, test: Paired, tolerance: float = 0.05) -> bool:
    """Return True when ``model`` is faster with no detectable accuracy loss, or as fast and more accurate, than
    ``reference``. Accuracy is judged by the paired ``test`` (``ll.stats.compare_models``), never by one image;
    "as fast" = p50 within ``resolution``; "faster" = quicker by more than that and by more than either timing's
    spread, so noise can only make the claim harder."""
    if set(test.names) != {model, reference}:
        raise ValueError(f"the paired test compares {test.names}, not {model!r} with {reference!r}")
    metric = _latency_metric(report)
    lat, ref_lat = report.value(model, metric), report.value(reference, metric)
    res = resolution(report, model, reference, tolerance)
    spreads = [r.get("spread", 0.0) for r in report.rows if r["metric"] == metric and r["model"] in (model, reference)]
    as_fast, faster = lat <= ref_lat + res, lat < ref_lat - max(res, *spreads)
    return test.better != reference and as_fast and (faster or test.better == model)

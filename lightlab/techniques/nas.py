"""Hardware-aware neural architecture search: a measured latency table, a multi-objective Optuna search whose
candidates train in parallel through ``ll.sweep``, the Pareto front, a budget filter, the winner's verdict.

NAS has three parts: the **space** (``ll.nas_space``: per-layer block kind, width and kernel, the depth, the head),
the **strategy** (random, evolutionary NSGA-II or Bayesian TPE, all Optuna samplers) and the **performance
estimate** (a few epochs of training on the train split, scored on the validation split). Latency is not timed per
candidate: a lookup table measured once on this machine (``ll.nas_latency``) predicts it from per-layer timings.

The search is unbudgeted: it maximises validation accuracy and minimises predicted latency and parameters, and
gives a Pareto front; a budget then filters the front (``within``) and picks the winner (``SearchResult.best``).
Each round Optuna asks for a batch of candidates, ``ll.sweep.run`` trains them in worker processes (local or Dask)
and appends each result to a file, and Optuna is told the results. The sampler is seeded, so running the same
search again with the same file replays it from the file and trains nothing twice. Figures: ``ll.views.nas``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from lightlab import config
from lightlab.data import loaders
from lightlab.data.tasks import Task
from lightlab.measurement import measure, sweep
from lightlab.measurement.report import Report
from lightlab.measurement.stats import Paired
from lightlab.techniques import train
from lightlab.techniques.nas_latency import LatencyTable, costs
from lightlab.techniques.nas_space import Candidate, Layer, Space, fold_batchnorm

SAMPLERS = {
    "random": optuna.samplers.RandomSampler,
    "nsga2": optuna.samplers.NSGAIISampler,
    "tpe": optuna.samplers.TPESampler,
}


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


def within(points: pd.DataFrame, budget: SearchBudget) -> pd.DataFrame:
    """Return the rows of ``points`` (a front, the trials, or ``costs``) whose latency_ms and params fit ``budget``."""
    return points[[budget.allows(a, b) for a, b in zip(points.latency_ms, points.params, strict=True)]]


def check_budget(budget: SearchBudget, space_costs: pd.DataFrame) -> None:
    """Raise ValueError naming the tightest feasible budget when no candidate of the space fits ``budget``."""
    if not within(space_costs, budget).empty:
        return
    fastest = space_costs.loc[space_costs.latency_ms.idxmin()]
    smallest = space_costs.loc[space_costs.params.idxmin()]
    raise ValueError(
        f"no candidate in the space meets {budget}: the tightest feasible latency budget is "
        f"{fastest.latency_ms:.4f} ms ({fastest['name']}) and the tightest feasible params budget is "
        f"{smallest.params} ({smallest['name']}); loosen the budget or add smaller choices to the space"
    )


@dataclass(frozen=True)
class SearchConfig:
    """How to search: sampler ('random', 'nsga2' or 'tpe'), candidates to ask for (None: 128, quick mode 12), how
    many per round (None: 16, quick mode 6; NSGA-II's population, trained in parallel), epochs per candidate (None:
    15, quick mode 3), learning rate and seed."""

    sampler: str = "nsga2"
    trials: int | None = None
    batch: int | None = None
    epochs: int | None = None
    lr: float = 1e-2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"SearchConfig sampler {self.sampler!r} is unknown; choose one of {', '.join(SAMPLERS)}")
        for name, least in (("trials", 1), ("batch", 2), ("epochs", 1)):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and value >= least):
                raise ValueError(
                    f"SearchConfig {name} must be an integer >= {least} or None (the default), got {value!r}"
                )
        if not self.lr > 0:
            raise ValueError(f"SearchConfig lr must be > 0, got {self.lr}; 1e-2 suits these small models")


@functools.lru_cache(maxsize=4)
def _task(name: str, quick: bool) -> Task:
    """Return the task, loaded once per worker process (quick mode loads other subsets, hence the key)."""
    return loaders.load(name)


def train_candidate(
    task: str, layers: list, head: str, hidden: int, epochs: int, lr: float, seed: int, quick: bool
) -> dict:
    """Train one candidate briefly from its seeded initialisation (a sweep trial) and return its validation score."""
    if quick != config.quick():
        raise ValueError(f"this trial was asked with quick mode {quick}, but this worker runs with {config.quick()}")
    data = _task(task, quick)
    model = Candidate.from_params(layers, head, hidden).build(data.input_shape, data.num_classes, seed=seed)
    history = train.fit_(model, data, epochs=epochs, lr=lr, seed=seed, progress=False)
    return {"val_accuracy": history.best_val_score, "epochs": len(history.val_scores)}


@dataclass
class SearchResult:
    """What a search did: the Optuna study, the latency table, one row per distinct candidate trained, and how
    many of them this call trained (the others were read from the sweep's file)."""

    study: optuna.Study
    table: LatencyTable
    trials: pd.DataFrame
    candidates: dict[str, Candidate]
    trained: int
    path: Path

    def front(self) -> pd.DataFrame:
        """Return the unbudgeted Pareto front of the trained candidates (accuracy, latency, parameters)."""
        return pareto(self.trials)

    def best(self, budget: SearchBudget | None = None) -> Candidate:
        """Return the most accurate (on validation) point of the front within ``budget`` (ties: faster, smaller)."""
        fits = within(self.front(), budget or SearchBudget())
        if fits.empty:
            raise ValueError(f"no trained candidate meets {budget}; loosen it or search with more trials")
        row = fits.sort_values(["val_accuracy", "latency_ms", "params"], ascending=[False, True, True]).iloc[0]
        return self.candidates[row["name"]]


def _suggest(trial: optuna.Trial, space: Space) -> Candidate:
    """Return the candidate of a trial's genome: every layer slot is always drawn (a fixed-length genome that
    NSGA-II can cross over), and the depth decides how many of them are used."""
    depth = trial.suggest_categorical("depth", space.depths)
    head = trial.suggest_categorical("head", space.heads)
    hidden = trial.suggest_categorical("hidden", space.hidden)
    genes = [
        Layer(
            trial.suggest_categorical(f"kind{i}", space.kinds),
            trial.suggest_categorical(f"width{i}", space.widths),
            trial.suggest_categorical(f"kernel{i}", space.kernels),
        )
        for i in range(max(space.depths))
    ]
    return Candidate(tuple(genes[:depth]), head if depth else "flatten", hidden)


def _genome(cand: Candidate, space: Space) -> dict:
    """Return the genome of ``cand`` (its unused layer slots are left to the sampler), or raise if not in ``space``."""
    outside = space.outside(cand)
    if outside:
        raise ValueError(f"start candidate {cand} is outside the space ({', '.join(outside)}); give one of its own")
    genome = {"depth": cand.depth, "hidden": cand.hidden} | ({"head": cand.head} if cand.layers else {})
    for i, layer in enumerate(cand.layers):
        genome |= {f"kind{i}": layer.kind, f"width{i}": layer.width, f"kernel{i}": layer.kernel}
    return genome


def search(
    cfg: SearchConfig | None = None,
    *,
    task: Task,
    space: Space,
    table: LatencyTable,
    path: str | Path,
    start: Sequence[Candidate] = (),
    workers: int | None = None,
    executor=None,
    progress: bool = True,
) -> SearchResult:
    """Return a SearchResult: Optuna asks for ``cfg.trials`` candidates of ``space`` in rounds of ``cfg.batch``
    (``start`` first, e.g. the hand-made design), the sweep trains the new ones in parallel and records them in
    ``path`` (maximise validation accuracy, minimise predicted latency and parameters). Run again with the same
    ``path`` and nothing is trained twice.

    ``executor``/``workers`` go to ``ll.sweep.run``: local processes (default, one per core) or a Dask Client.
    Workers load ``task`` by name. The results do not depend on the executor: each trial runs on one thread.
    """
    cfg = cfg or SearchConfig()
    if task.name not in loaders.names():
        raise ValueError(
            f"task {task.name!r} is not a shipped task: the workers load it by name; choose one of "
            f"{', '.join(loaders.names())}"
        )
    trials = int(cfg.trials if cfg.trials is not None else config.pick(128, 12))
    batch = int(cfg.batch if cfg.batch is not None else config.pick(16, 6))
    epochs = config.epochs(cfg.epochs, 15, 3)
    lookup = costs(space, task, table).set_index("name")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = SAMPLERS[cfg.sampler]
    seeded = sampler(seed=cfg.seed, population_size=batch) if cfg.sampler == "nsga2" else sampler(seed=cfg.seed)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=seeded)
    for cand in start:
        study.enqueue_trial(_genome(cand, space))
    base = {"task": task.name, "epochs": epochs, "lr": cfg.lr, "seed": cfg.seed, "quick": config.quick()}
    # Local workers are forked from this process every round: import what training needs (Adam pulls in
    # torch._dynamo, seconds) and load the task once here, not once per worker and round.
    torch.optim.Adam(nn.Linear(1, 1).parameters())
    _task(task.name, base["quick"])
    rows: dict[str, dict] = {}  # one per distinct candidate, in the order first asked
    found: dict[str, Candidate] = {}
    trained = 0
    with tqdm(total=trials, desc=f"NAS ({cfg.sampler})", disable=not progress, leave=False) as bar:
        while len(study.trials) < trials:
            asked = [study.ask() for _ in range(min(batch, trials - len(study.trials)))]
            cands = [_suggest(t, space) for t in asked]
            todo = {str(c): {**base, **c.to_params()} for c in cands}  # a candidate asked twice is trained once
            done = sweep.run(train_candidate, list(todo.values()), path, executor, workers, progress=False)
            trained += len(done.records) - done.skipped
            records = dict(zip(todo, done.records, strict=True))
            for t, cand in zip(asked, cands, strict=True):
                name, record = str(cand), records[str(cand)]
                if record["status"] != "ok":
                    study.tell(t, state=optuna.trial.TrialState.FAIL)
                    continue
                cost = lookup.loc[name]
                score = record["result"]["val_accuracy"]
                study.tell(t, (score, float(cost.latency_ms), float(cost.params)))
                found[name] = cand
                row = {"trial": t.number, "name": name, **cost.to_dict(), "val_accuracy": score}
                rows.setdefault(name, row | {"train_s": record["seconds"]})
            bar.update(len(asked))
    return SearchResult(study, table, pd.DataFrame(list(rows.values())), found, trained, Path(path))


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
    """Return ``cand`` trained from its seeded initialisation for the full schedule (the search trained briefly),
    deployed (BatchNorm folded): ``epochs`` (None: 60, quick mode 15) with ``cfg``'s learning rate and seed,
    patience 10, on one thread like the search's trials."""
    cfg = cfg or SearchConfig()
    model = cand.build(task.input_shape, task.num_classes, seed=cfg.seed)
    with config.using_threads(1):
        train.fit_(
            model, task, epochs=config.epochs(epochs, 60, 15), lr=cfg.lr, patience=10, seed=cfg.seed, progress=progress
        )
    return fold_batchnorm(model)


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

"""Early exits: a classifier after each block, so an easy input leaves as soon as one of them is confident.

BranchyNet (Teerapittayanon, McDanel & Kung 2016) adds side classifiers to a network and trains them jointly on a
weighted sum of their losses; MSDNet (Huang et al. 2018) builds the whole network for it. At run time an input
leaves at the first exit whose largest softmax probability reaches a threshold: the cost adapts per *input*.

``exit_cnn`` is the zoo's digits CNN (the one ``slimmable`` makes switchable) cut into three blocks with an exit
after each; ``train_exits_`` trains every exit at once; ``exit_index`` is the confidence rule; ``EarlyExit`` runs it
one input at a time, skipping the blocks after the exit; ``sweep`` gives, per threshold, the test accuracy, the
share of inputs leaving at each exit and the measured mean latency per input at batch 1; ``matched_latency``
compares with other models (a slimmable network's widths) that are no faster, by a paired test.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from lightlab import config
from lightlab.data.tasks import Task, check_inputs
from lightlab.measurement import measure, metrics, stats
from lightlab.measurement.report import Report
from lightlab.models import zoo
from lightlab.techniques import train

# 1.01: above any probability, so every input runs to the last exit (a softmax can round to exactly 1.0 in float32).
THRESHOLDS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.01)
LATENCY = "latency per input"


class ExitNet(nn.Module):
    """Blocks run in turn, with an exit classifier after each; ``forward`` is the full network (last exit only)."""

    def __init__(self, blocks: Sequence[nn.Module], exits: Sequence[nn.Module]):
        super().__init__()
        if len(blocks) != len(exits) or len(blocks) < 2:
            raise ValueError(f"need one exit per block and at least 2 blocks, got {len(blocks)} and {len(exits)}")
        self.blocks, self.exits = nn.ModuleList(blocks), nn.ModuleList(exits)

    @property
    def n_exits(self) -> int:
        """Return the number of exits (the last one is the full network's classifier)."""
        return len(self.exits)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the logits of every exit for the batch ``x``, first exit first."""
        outs = []
        for block, head in zip(self.blocks, self.exits, strict=True):
            x = block(x)
            outs.append(head(x))
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the last exit's logits: every block, and no other exit head (the plain full network)."""
        for block in self.blocks:
            x = block(x)
        return self.exits[-1](x)


def exit_cnn(in_shape: tuple[int, int, int], classes: int, seed: int | None = 0, **kwargs) -> ExitNet:
    """Return ``zoo.cnn`` (same layers, same seeded start) cut into three blocks, with an exit after each.

    Exit 0 reads the first convolution (max-pooled 2x2, one Linear layer); exit 1 the second convolution after its
    pooling (one Linear layer); exit 2 is the CNN's own classifier. ``kwargs`` are ``zoo.cnn``'s channels, hidden,
    dropout.
    """
    c, h, w = in_shape
    cnn = zoo.cnn(in_shape, classes, seed=seed, **kwargs)
    conv1, conv2 = cnn[0], cnn[2]
    if seed is not None:
        torch.manual_seed(seed + 1)  # the exit heads: seeded too, apart from the backbone
    exits = [
        nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(conv1.out_channels * (h // 2) * (w // 2), classes)),
        nn.Sequential(nn.Flatten(), nn.Linear(conv2.out_channels * (h // 2) * (w // 2), classes)),
        cnn[9],
    ]
    return ExitNet([cnn[0:2], cnn[2:5], cnn[5:9]], exits)


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not threshold >= 0:
        raise ValueError(
            f"threshold must be a number >= 0, got {threshold!r}: an input leaves at the first exit whose largest "
            "softmax probability is >= threshold (0: all leave at exit 0; above 1, e.g. 1.01: none leaves early)"
        )
    return float(threshold)


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """Return the largest softmax probability over the classes (the last dimension) of ``logits``."""
    return logits.softmax(dim=-1).amax(dim=-1)


def exit_index(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Return, per input, the first exit whose largest softmax probability is >= ``threshold`` (else the last exit).

    ``logits``: every exit's raw outputs, shape [exits, inputs, classes].
    """
    threshold = _check_threshold(threshold)
    if logits.dim() != 3:
        raise ValueError(f"logits must be [exits, inputs, classes], got shape {list(logits.shape)}")
    confident = confidence(logits) >= threshold  # [exits, inputs]
    confident[-1] = True  # the last exit always answers
    return confident.int().argmax(dim=0)  # argmax gives the FIRST maximum: the first confident exit


@torch.inference_mode()
def exit_logits(model: ExitNet, task: Task, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """Return (labels [inputs], logits [exits, inputs, classes]) of every exit over ``split``, in order."""
    was_training = model.training
    model.eval()
    ys, outs = [], []
    for x, y in task.loader(split, batch_size=256, shuffle=False):
        outs.append(torch.stack(model.forward_all(check_inputs(x))))
        ys.append(y)
    model.train(was_training)
    return torch.cat(ys), torch.cat(outs, dim=1)


def exit_predictions(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (exit taken, predicted class) per input under the rule at ``threshold``."""
    exits = exit_index(logits, threshold)
    return exits, logits[exits, torch.arange(logits.shape[1])].argmax(dim=1)


class EarlyExit(nn.Module):
    """``model`` run with the exit rule at ``threshold``: an input stops at its first confident exit."""

    def __init__(self, model: ExitNet, threshold: float):
        super().__init__()
        self.model, self.threshold = model, _check_threshold(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return each input's logits at the exit it took; at batch 1 the blocks after that exit never run."""
        blocks, exits = self.model.blocks, self.model.exits
        if x.shape[0] == 1:  # what a device does per request: one comparison per exit, then stop
            for block, head in zip(blocks[:-1], exits[:-1], strict=True):
                x = block(x)
                logits = head(x)
                if confidence(logits) >= self.threshold:
                    return logits
            return exits[-1](blocks[-1](x))
        out, left, last = None, torch.arange(x.shape[0]), len(blocks) - 1
        for i, (block, head) in enumerate(zip(blocks, exits, strict=True)):
            x = block(x)
            logits = head(x)
            if out is None:
                out = logits.new_empty(len(left), logits.shape[1])
            done = confidence(logits) >= self.threshold if i < last else torch.ones(len(left), dtype=torch.bool)
            out[left[done]] = logits[done]  # a batch: the inputs still running shrink at every exit
            left, x = left[~done], x[~done]
            if not len(left):
                break
        return out


@dataclass(frozen=True)
class ExitConfig:
    """Joint training: the weight of each exit's loss (first exit first), and the schedule (``epochs`` None: 30,
    quick mode 6, as ``train.fit_``); the weights with the best mean validation accuracy over the exits are kept."""

    weights: tuple[float, ...] = (1.0, 1.0, 1.0)
    epochs: int | None = None
    lr: float = 1e-3
    patience: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.weights or any(not w >= 0 for w in self.weights) or not sum(self.weights) > 0:
            raise ValueError(f"ExitConfig weights must be >= 0, not all zero, one per exit, got {self.weights}")
        checks = {
            "epochs": (self.epochs is None or self.epochs >= 1, "an integer >= 1, or None for the default"),
            "lr": (self.lr > 0, "a learning rate > 0 (1e-3 suits Adam here)"),
            "patience": (self.patience >= 1, "an integer >= 1 (epochs without progress before stopping)"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok:
                raise ValueError(f"ExitConfig {name} must be {allowed}, got {getattr(self, name)!r}")

    @property
    def n_epochs(self) -> int:
        """Return the number of epochs to train (the quick-mode default when ``epochs`` is None)."""
        return config.epochs(self.epochs, 30, 6)


def exit_accuracies(model: ExitNet, task: Task, split: str = "val") -> list[float]:
    """Return the accuracy (0..1) of each exit alone on ``split``."""
    y, logits = exit_logits(model, task, split)
    return [float((out.argmax(1) == y).float().mean()) for out in logits]


def train_exits_(model: ExitNet, cfg: ExitConfig | None = None, *, task: Task, progress: bool = True) -> train.History:
    """Train every exit of ``model`` at once, in place, on the weighted sum of the exits' cross-entropy losses."""
    cfg = cfg or ExitConfig()
    if len(cfg.weights) != model.n_exits:
        raise ValueError(f"ExitConfig has {len(cfg.weights)} loss weights for {model.n_exits} exits; give one per exit")
    config.seed_everything(cfg.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = task.loader("train")
    loader.generator.manual_seed(cfg.seed)
    history, best = train.History("mean accuracy of the exits"), None
    with tqdm(range(cfg.n_epochs), desc="training every exit", disable=not progress, leave=False) as bar:
        for epoch in bar:
            model.train()
            total, n = 0.0, 0
            for x, y in loader:
                optimizer.zero_grad()
                outs = model.forward_all(check_inputs(x))
                loss = sum(w * F.cross_entropy(o, y) for w, o in zip(cfg.weights, outs, strict=True))
                loss.backward()
                optimizer.step()
                total, n = total + loss.item() * len(y), n + len(y)
            history.train_loss.append(total / n)
            history.val_scores.append(sum(exit_accuracies(model, task)) / model.n_exits)
            if best is None or history.val_scores[-1] > history.best_val_score:
                history.best_epoch, best = epoch, copy.deepcopy(model.state_dict())
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{history.val_scores[-1]:.3f}")
            if epoch - history.best_epoch >= cfg.patience:
                break
    model.load_state_dict(best)
    return history


def point_name(threshold: float) -> str:
    """Return the Report model name of the operating point at ``threshold``: 't=0.9'."""
    return f"t={threshold:g}"


def _one_at_a_time(module: nn.Module) -> measure.Call:
    """Return ``module`` fed the rows of its input one by one (batch 1): one call is one pass over all of them."""
    return measure.Call(lambda xs: [module(x) for x in xs.split(1)])


def _add_latency(report: Report, name: str, timing: measure.Timing, n: int) -> None:
    report.add(
        name,
        LATENCY,
        timing.p50 / n,
        "ms",
        f"wall clock: {n} test inputs run one at a time (batch 1), the pass's time / {n}; fastest of "
        f"{timing.rounds} passes, the models taking turns pass by pass; {timing.threads} threads",
        note=timing.note,
    )


def _add_accuracy(report: Report, name: str, y: torch.Tensor, pred: torch.Tensor, how: str) -> None:
    correct, n = int((pred == y).sum()), len(y)
    report.add(
        name, "accuracy", 100 * correct / n, "%", f"test split, {n} inputs; {how}", interval=stats.wilson(correct, n)
    )


def sweep(
    model: ExitNet,
    task: Task,
    thresholds: Sequence[float] = THRESHOLDS,
    *,
    others: Mapping[str, nn.Module] | None = None,
    inputs: int | None = None,
    rounds: int | None = None,
    threads: int = 1,
) -> Report:
    """Return a Report with one model 't=T' per threshold, 'full network' (no exit but the last) and each of
    ``others`` (e.g. a slimmable network's widths): accuracy on the test split (with its Wilson interval), per
    threshold the share of inputs leaving at each exit ('exit K share'), and for all of them the measured
    ``LATENCY``: ``inputs`` test inputs (default 360, quick mode 60) run one at a time, the fastest of ``rounds``
    passes (default 10, quick mode 5), every model timed in turns by ``measure.interleaved`` on ``threads`` PyTorch
    threads (default 1: at batch 1 a second thread adds synchronisation to these small layers, not speed, and on a
    busy machine waiting for it costs milliseconds).
    """
    thresholds = [_check_threshold(t) for t in thresholds]
    others = dict(others or {})
    clash = {point_name(t) for t in thresholds} & {"full network", *others}
    if clash:
        raise ValueError(f"names {sorted(clash)} are used twice; rename the models in others")
    y, logits = exit_logits(model, task)
    model.eval()
    n = int(inputs or config.pick(360, 60))
    xs = task.example(n)
    timed = {point_name(t): EarlyExit(model, t) for t in thresholds} | {"full network": model} | others
    # One pass per model per round, the models in turns: a burst of other work on the machine hits them alike,
    # and the fastest pass of each is kept (other processes only ever add time).
    passes = {k: _one_at_a_time(m) for k, m in timed.items()}
    with config.using_threads(threads):
        timings = measure.interleaved(passes, xs, rounds=rounds or config.pick(10, 5), repeats=1, warmup=0)
    report = Report(environment=measure.environment())
    for t in thresholds:
        name = point_name(t)
        exits, pred = exit_predictions(logits, t)
        report.add(name, "threshold", t, "", "an input leaves at the first exit whose top softmax probability >= this")
        _add_accuracy(report, name, y, pred, f"early exit at threshold {t:g}")
        for k in range(model.n_exits):
            share = 100 * float((exits == k).float().mean())
            report.add(name, f"exit {k} share", share, "%", f"share of the {len(y)} test inputs leaving at exit {k}")
        _add_latency(report, name, timings[name], n)
    for name in ["full network", *others]:
        labels, pred = metrics.predictions(timed[name], task.loader("test", shuffle=False))
        _add_accuracy(report, name, y, torch.as_tensor(pred), "the model alone, no early exit")
        _add_latency(report, name, timings[name], n)
    return report


def thresholds_of(report: Report) -> list[str]:
    """Return the early-exit operating points of a ``sweep`` Report ('t=...'), in threshold order."""
    return sorted((m for m in report.models() if m.startswith("t=")), key=lambda m: report.value(m, "threshold"))


@dataclass(frozen=True)
class Match:
    """The most accurate early-exit threshold no slower than another model, and the paired test of the two."""

    other: str
    point: str | None  # None: every threshold was slower
    paired: stats.Paired | None
    disturbed: bool

    @property
    def summary(self) -> str:
        """Return one sentence: which threshold matched, and the verdict of the paired test."""
        if self.point is None:
            return f"{self.other}: every early-exit threshold was slower, no match"
        busy = (
            " (latencies disturbed by other programs: the match may change on a quiet machine)"
            if self.disturbed
            else ""
        )
        return f"{self.other} vs early exit {self.point} (no slower): {self.paired.verdict}{busy}"


def matched_latency(model: ExitNet, task: Task, report: Report, others: Mapping[str, nn.Module]) -> list[Match]:
    """Return, for each of ``others``, the most accurate threshold of ``report`` (a ``sweep``) whose measured latency
    per input is no higher than that model's, and the exact McNemar test of the two on the same test inputs."""
    y, logits = exit_logits(model, task)
    points, matches = thresholds_of(report), []
    for name, other in others.items():
        budget = report.value(name, LATENCY)
        fits = [p for p in points if report.value(p, LATENCY) <= budget]
        rows = [r for r in report.rows if r["metric"] == LATENCY and r["model"] in (name, *fits)]
        disturbed = any("disturbed" in (r.get("note") or "") for r in rows)
        if not fits:
            matches.append(Match(name, None, None, disturbed))
            continue
        best = max(fits, key=lambda p: (report.value(p, "accuracy"), -report.value(p, LATENCY)))
        _, pred = exit_predictions(logits, report.value(best, "threshold"))
        _, other_pred = metrics.predictions(other, task.loader("test", shuffle=False))
        paired = stats.compare(y.numpy(), pred.numpy(), other_pred, names=(f"early exit {best}", name))
        matches.append(Match(name, best, paired, disturbed))
    return matches

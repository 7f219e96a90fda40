"""One network, several sizes: a width-switchable ("slimmable") CNN, trained once, measured at every width.

``slim_cnn`` builds the zoo's conv-conv-pool-fc CNN from ``SlimConv2d``/``SlimLinear`` layers, which at width
multiplier w use only the first ``round(w * out)`` output channels of one set of weights (and as many input
channels as they receive). ``set_width_(model, w)`` switches at run time without copying anything.
``train_sandwich_`` trains every width at once (Yu & Huang 2019: the sandwich rule with in-place distillation),
``profile`` measures each operating point; ``ll.adaptive.controller`` picks the width from a latency, memory and
battery budget.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from lightlab import config
from lightlab.data.tasks import Task, check_inputs
from lightlab.measurement import measure, metrics, stats
from lightlab.measurement.energy import modelled_energy
from lightlab.measurement.report import Report
from lightlab.models import zoo
from lightlab.techniques import train

WIDTHS = (0.25, 0.5, 0.75, 1.0)


def active(n: int, width: float) -> int:
    """Return how many of ``n`` channels a layer uses at width multiplier ``width``: round(width * n), at least 1."""
    return max(1, round(width * n))


class SlimConv2d(nn.Conv2d):
    """A Conv2d that uses its first ``active(out_channels, width)`` filters on the first channels it receives."""

    width: float = 1.0
    slim_out: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = active(self.out_channels, self.width) if self.slim_out else self.out_channels
        bias = self.bias[:out] if self.bias is not None else None
        return F.conv2d(x, self.weight[:out, : x.shape[1]], bias, self.stride, self.padding, self.dilation)


class SlimLinear(nn.Linear):
    """A Linear layer that uses its first ``active(out_features, width)`` rows on the first features it receives."""

    width: float = 1.0
    slim_out: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = active(self.out_features, self.width) if self.slim_out else self.out_features
        return F.linear(x, self.weight[:out, : x.shape[1]], self.bias[:out] if self.bias is not None else None)


SLIM = (SlimConv2d, SlimLinear)


def _check_width(width: float) -> None:
    if not 0 < width <= 1:
        raise ValueError(f"width must be in (0, 1], got {width}; it is the share of channels in use (0.25 = a quarter)")


def slim_cnn(in_shape: tuple[int, int, int], classes: int, **kwargs) -> nn.Sequential:
    """Return ``zoo.cnn``'s conv-conv-pool-fc CNN built from slimmable layers (the output layer keeps all classes).

    ``kwargs`` are ``zoo.cnn``'s: channels, hidden, dropout, seed.
    """
    model = zoo.cnn(in_shape, classes, conv=SlimConv2d, linear=SlimLinear, **kwargs)
    model[-1].slim_out = False  # every width must still answer every class
    model.in_shape = tuple(in_shape)  # lets params_in_use and extract run a forward pass of their own
    return model


def fixed_cnn(
    in_shape: tuple[int, int, int],
    classes: int,
    width: float,
    channels: tuple[int, int] = (64, 128),
    hidden: int = 512,
    seed: int | None = 0,
) -> nn.Sequential:
    """Return the plain ``zoo.cnn`` with the layer sizes ``slim_cnn`` uses at ``width`` (to train on its own)."""
    _check_width(width)
    return zoo.cnn(
        in_shape,
        classes,
        channels=(active(channels[0], width), active(channels[1], width)),
        hidden=active(hidden, width),
        seed=seed,
    )


def slim_layers(model: nn.Module) -> list[nn.Module]:
    """Return the slimmable layers of ``model`` in order, or raise if it has none."""
    layers = [m for m in model.modules() if isinstance(m, SLIM)]
    if not layers:
        raise TypeError(f"{type(model).__name__} has no SlimConv2d/SlimLinear layers; build it with slim_cnn()")
    return layers


def set_width_(model: nn.Module, width: float) -> nn.Module:
    """Switch ``model`` to width multiplier ``width`` in place (no copy: layers slice their weights); return it."""
    _check_width(width)
    for layer in slim_layers(model):
        layer.width = width
    return model


def width_of(model: nn.Module) -> float:
    """Return the width multiplier ``model`` runs at now."""
    return slim_layers(model)[0].width


def _sizes(model: nn.Module, width: float) -> dict[nn.Module, tuple[int, int]]:
    """Return {slim layer: (inputs used, outputs used)} at ``width``, found by one forward pass on zeros."""
    sizes, before = {}, width_of(model)

    def hook(layer, inputs, output):
        sizes[layer] = (inputs[0].shape[1], output.shape[1])

    handles = [layer.register_forward_hook(hook) for layer in slim_layers(model)]
    was_training = model.training
    try:
        with torch.inference_mode():
            set_width_(model, width).eval()(torch.zeros(1, *model.in_shape))
    finally:
        for h in handles:
            h.remove()
        set_width_(model, before).train(was_training)
    return sizes


def params_in_use(model: nn.Module, width: float | None = None) -> int:
    """Return the parameters read at ``width`` (default: the current one): the used slices, not every stored one."""
    return measure.count_params(extract(model, width or width_of(model)))


def extract(model: nn.Module, width: float) -> nn.Sequential:
    """Return a plain, independent copy of ``model`` at ``width``: Conv2d/Linear layers holding the used slices."""
    sizes = _sizes(model, width)
    layers = []
    for m in model.children():
        if isinstance(m, SLIM):
            n_in, out = sizes[m]
            plain = (
                nn.Conv2d(n_in, out, m.kernel_size, m.stride, m.padding)
                if isinstance(m, nn.Conv2d)
                else nn.Linear(n_in, out)
            )
            with torch.no_grad():
                plain.weight.copy_(m.weight[:out, :n_in])
                plain.bias.copy_(m.bias[:out])
            layers.append(plain)
        else:
            layers.append(copy.deepcopy(m))
    return nn.Sequential(*layers).eval()


@dataclass(frozen=True)
class SlimConfig:
    """How to train a slimmable network: the widths to serve (increasing), random widths per step, in-place
    distillation, and the schedule (``epochs`` None: 30, quick mode 6, as ``train.fit_``)."""

    widths: tuple[float, ...] = WIDTHS
    random_widths: int = 2
    distill: bool = True
    epochs: int | None = None
    lr: float = 1e-3
    patience: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.widths or list(self.widths) != sorted(set(self.widths)):
            raise ValueError(
                f"SlimConfig widths must be distinct, increasing width multipliers, got {self.widths}; e.g. {WIDTHS}"
            )
        for w in self.widths:
            _check_width(w)
        checks = {
            "random_widths": (self.random_widths >= 0, "an integer >= 0 (the sandwich rule uses 2)"),
            "epochs": (self.epochs is None or self.epochs >= 1, "an integer >= 1, or None for the default"),
            "lr": (self.lr > 0, "a learning rate > 0 (1e-3 suits Adam here)"),
            "patience": (self.patience >= 1, "an integer >= 1 (epochs without progress before stopping)"),
        }
        for name, (ok, allowed) in checks.items():
            if not ok:
                raise ValueError(f"SlimConfig {name} must be {allowed}, got {getattr(self, name)!r}")

    @property
    def n_epochs(self) -> int:
        """Return the number of epochs to train (the quick-mode default when ``epochs`` is None)."""
        return config.epochs(self.epochs, 30, 6)


def sandwich_widths(cfg: SlimConfig, rng: random.Random) -> list[float]:
    """Return the widths of one training step: the largest, the smallest and ``random_widths`` drawn in between."""
    low, high = cfg.widths[0], cfg.widths[-1]
    return [high, *(rng.uniform(low, high) for _ in range(cfg.random_widths)), low] if low < high else [high]


def mean_val_accuracy(model: nn.Module, task: Task, widths: Sequence[float], split: str = "val") -> float:
    """Return the task metric on ``split`` averaged over ``widths`` (the model is left at the width it had)."""
    before = width_of(model)
    scores = [train.evaluate(set_width_(model, w), task, split) for w in widths]
    set_width_(model, before)
    return sum(scores) / len(scores)


def train_sandwich_(
    model: nn.Module, cfg: SlimConfig | None = None, *, task: Task, progress: bool = True
) -> train.History:
    """Train ``model`` in place at every width with the sandwich rule; keep the best mean validation score.

    Each step runs the largest width on the labels, then the smallest and random widths in between, each learning
    from the largest's predictions (in-place distillation) or from the labels (``distill=False``); the gradients
    of all widths add up before one Adam step on the shared weights. The model is left at its largest width.
    """
    cfg = cfg or SlimConfig()
    slim_layers(model)
    config.seed_everything(cfg.seed)
    rng = random.Random(cfg.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = task.loader("train")
    loader.generator.manual_seed(cfg.seed)
    history, best = train.History(task.metric), None
    bar = tqdm(total=cfg.n_epochs, desc="sandwich training", disable=not progress, leave=False)
    try:
        for epoch in range(cfg.n_epochs):
            history.train_loss.append(_sandwich_epoch(model, loader, cfg, optimizer, rng))
            history.val_scores.append(mean_val_accuracy(model, task, cfg.widths))
            if best is None or history.val_scores[-1] > history.best_val_score:
                history.best_epoch, best = epoch, copy.deepcopy(model.state_dict())
            bar.update()
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{history.val_scores[-1]:.3f}")
            if epoch - history.best_epoch >= cfg.patience:
                break
        bar.total = bar.n  # stopping early is finishing: the bar closes instead of turning red
    finally:
        bar.close()
    model.load_state_dict(best)
    set_width_(model, cfg.widths[-1]).eval()
    return history


def _sandwich_epoch(
    model: nn.Module, loader: DataLoader, cfg: SlimConfig, optimizer: torch.optim.Optimizer, rng: random.Random
) -> float:
    """Run one epoch of sandwich steps and return the largest width's mean training loss."""
    model.train()
    total, n = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        teacher = None
        for w in sandwich_widths(cfg, rng):
            logits = set_width_(model, w)(check_inputs(x))
            if teacher is None or not cfg.distill:
                loss = F.cross_entropy(logits, y)
            else:  # soft targets of the largest width, not back-propagated into it
                loss = F.kl_div(F.log_softmax(logits, 1), teacher, reduction="batchmean", log_target=True)
            loss.backward()
            if teacher is None:
                teacher = F.log_softmax(logits.detach(), 1)
                total, n = total + loss.item() * len(y), n + len(y)
        optimizer.step()
    return total / n


class AtWidth(nn.Module):
    """``model`` pinned to one width: switches it (in place, if needed) before each call, for side-by-side timing."""

    def __init__(self, model: nn.Module, width: float):
        super().__init__()
        _check_width(width)
        self.model, self.width, self.first = model, width, slim_layers(model)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.first.width != self.width:  # one attribute read: the switch check must not dominate at batch 1
            set_width_(self.model, self.width)
        return self.model(x)


def point_name(width: float) -> str:
    """Return the Report model name of the operating point at ``width``: 'w=0.25'."""
    return f"w={width:g}"


def profile(
    model: nn.Module,
    task: Task,
    widths: Sequence[float] = WIDTHS,
    *,
    batch: int = 1,
    rounds: int | None = None,
    repeats: int | None = None,
) -> Report:
    """Return a Report with one model 'w=W' per operating point: what the controller needs to pick a width.

    Metrics: width, accuracy (test split), params (in use), macs, latency_p50_b{batch} (every width of the same
    model timed in turns by ``measure.interleaved``, the width switch included), peak_memory and
    energy_modelled_per_inference (both of the weights in use: measured on ``extract(model, w)``). The model is
    left at the width it had.
    """
    widths = sorted(widths)
    for w in widths:
        _check_width(w)
    before, x = width_of(model), task.example(batch)
    timings = measure.interleaved({w: AtWidth(model, w) for w in widths}, x, rounds=rounds, repeats=repeats)
    report = Report(environment=measure.environment())
    for w in widths:
        name, plain = point_name(w), extract(model, w)
        report.add(name, "width", w, "x", "width multiplier: share of each layer's channels in use")
        report.add(
            name,
            "accuracy",
            100 * train.evaluate(set_width_(model, w), task),
            "%",
            f"test split, {task.sizes()['test']} samples of {task.name!r}, at width {w:g}",
        )
        report.add(name, "params", params_in_use(model, w), "count", "parameter elements in use at this width")
        report.add(name, "macs", measure.count_macs(model, x[:1]), "MACs", "torch FlopCounterMode / 2, per sample")
        measure.add_timing(report, name, timings[w])
        report.add(
            name,
            "peak_memory",
            measure.peak_memory(plain, x[:1]),
            "bytes",
            "weights in use + largest layer input+output (forward hooks), batch 1",
        )
        report.extend([modelled_energy(plain, x[:1], name=name)])
    set_width_(model, before)
    return report


def compare_separate(
    points: Report, task: Task, cfg: SlimConfig | None = None, *, model: nn.Module | None = None, progress: bool = False
) -> Report:
    """Return a Report of ``fixed_cnn`` models trained alone at each width of ``points`` (same epochs, lr, seed).

    Rows: their test accuracy and parameters, and per operating point the ``accuracy gap to separately trained``
    (separately trained minus slimmable, in points: positive when sharing weights costs accuracy). Given the
    slimmable ``model``, each gap row also carries the paired test (exact McNemar on the same test inputs): its
    95 % interval, and its verdict as the row's note (``gap_verdicts``).
    """
    cfg = cfg or SlimConfig()
    report = Report(environment=measure.environment())
    widths = [points.value(m, "width") for m in points.models()]
    for w in tqdm(widths, desc="separately trained", disable=not progress, leave=False):
        fixed = fixed_cnn(task.input_shape, task.num_classes, w, seed=cfg.seed)
        train.fit_(fixed, task, epochs=cfg.n_epochs, lr=cfg.lr, patience=cfg.patience, seed=cfg.seed, progress=False)
        accuracy, name = 100 * train.evaluate(fixed, task), f"separately trained w={w:g}"
        how = f"alone by train.fit_ ({cfg.n_epochs} epochs max, lr {cfg.lr:g}, seed {cfg.seed})"
        report.add(
            name, "accuracy", accuracy, "%", f"test split of {task.name!r}; zoo.cnn at width {w:g} trained {how}"
        )
        report.add(name, "params", measure.count_params(fixed), "count", "sum of parameter elements")
        paired = None if model is None else _paired(fixed, model, w, task)
        report.add(
            point_name(w),
            "accuracy gap to separately trained",
            accuracy - points.value(point_name(w), "accuracy"),
            "points",
            "separately trained minus slimmable at the same width"
            + ("" if paired is None else f"; paired: exact McNemar on the same {paired.n} test inputs"),
            note=None if paired is None else paired.verdict,
            interval=None if paired is None else paired.interval,
        )
    return report


def _paired(fixed: nn.Module, model: nn.Module, width: float, task: Task) -> stats.Paired:
    """Return the exact McNemar test of ``fixed`` against ``model`` at ``width`` on the same test inputs."""
    before = width_of(model)
    y, alone = metrics.predictions(fixed, task.loader("test", shuffle=False))
    _, shared = metrics.predictions(set_width_(model, width), task.loader("test", shuffle=False))
    set_width_(model, before)
    return stats.compare(y, alone, shared, names=(f"separately trained w={width:g}", f"slimmable w={width:g}"))


def gap_verdicts(separate: Report) -> dict[str, str]:
    """Return {operating point: the paired verdict on its gap} from ``compare_separate(..., model=...)``'s rows."""
    rows = [r for r in separate.rows if r["metric"] == "accuracy gap to separately trained"]
    return {r["model"]: r.get("note") or "no paired test: pass model= to compare_separate" for r in rows}

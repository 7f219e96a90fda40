"""Synthetic ECG for portable heart-rhythm screening: a seeded generator, the ``ecg`` task and its plumbing.

No labelled ECG with enough arrhythmias ships in a Python package, so every window here is SYNTHETIC. Each beat is
a sum of five Gaussian waves (P, Q, R, S, T), the idea of McSharry et al.'s ECGSYN (IEEE TBME 2003) written simply,
placed on a sequence of RR intervals that defines the rhythm:

- ``normal``: sinus rhythm, RR slowly modulated by breathing (sinus arrhythmia), every QRS preceded by a P wave;
- ``atrial fibrillation``: irregularly irregular RR, no P waves, fibrillatory "f waves" (4-9 Hz) on the baseline;
- ``premature ventricular beats``: sinus rhythm with one or two early, wide, bizarre QRS complexes without a P wave,
  each followed by a compensatory pause.

Every synthetic patient has their own heart rate, wave amplitudes and widths, electrode gain and noise: baseline
wander (breathing), muscle (EMG) noise and 50 or 60 Hz powerline hum. Splits are by patient: a model is tested on
people it never saw. Not real patients, simplified morphology: never for clinical use.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from lightlab.data.tasks import DataError, Task, make_splits
from lightlab.face import plots
from lightlab.face.widgets import Explorer
from lightlab.measurement import metrics
from lightlab.measurement.report import Report

RATE = 125  # Hz, as in widely used downsampled MIT-BIH sets
WINDOW = 512  # samples per window: 4.1 s, three to eight beats
CLASSES = ["normal", "atrial fibrillation", "premature ventricular beats"]
_LEAD_IN = 2.0  # seconds of rhythm simulated before the window, so the window never starts on an empty strip
_HALF = 30  # samples drawn each side of a wave centre (>= 2.7 sigma of the widest wave, 3.4 of a sinus T)


def _patients(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return each patient's parameters (one array entry per patient)."""
    u = rng.uniform
    return {
        "rr": 60 / u(50, 100, n),  # resting sinus RR interval, s
        "af_rr": 60 / u(60, 120, n),  # mean RR during atrial fibrillation (faster), s
        "amp": np.stack(
            [
                u(0.04, 0.25, n),
                -u(0.0, 0.15, n),
                u(0.6, 1.6, n),
                -u(0.05, 0.4, n),
                u(0.1, 0.45, n) * np.where(u(0, 1, n) < 0.1, -1, 1),
            ],
            1,
        ),  # P Q R S T, mV
        "width": np.stack(
            [u(0.02, 0.04, n), u(0.008, 0.014, n), u(0.008, 0.014, n), u(0.008, 0.014, n), u(0.04, 0.07, n)], 1
        ),  # Gaussian sigma, s
        "pr": u(0.13, 0.2, n),  # P wave centre before R, s
        "qt": u(0.26, 0.34, n),  # T wave centre after R at RR = 1 s (scaled by sqrt(RR), Bazett)
        "gain": u(0.6, 1.6, n),  # electrode placement and skin contact
        "wander": u(0.05, 0.5, n),  # baseline wander amplitude, mV
        "breath": u(0.15, 0.4, n),  # breathing rate, Hz
        "emg": u(0.01, 0.1, n),  # muscle noise sigma, mV
        "hum": u(0.0, 0.08, n) * (u(0, 1, n) < 0.6),  # powerline amplitude, mV (absent for 40 % of patients)
        "mains": np.where(u(0, 1, n) < 0.5, 50.0, 60.0),  # Hz, by country
    }


def _rhythm(kind: int, p: dict, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return (R-peak times in s, True where the beat is a PVC) covering the lead-in and the window."""
    end = _LEAD_IN + WINDOW / RATE + 0.5
    if kind == 1:  # AF: independent, widely spread intervals
        n = int(end / (0.5 * p["af_rr"][i])) + 2
        rr = p["af_rr"][i] * np.exp(rng.uniform(0.06, 0.25) * rng.standard_normal(n))
        times = np.cumsum(np.clip(rr, 0.28, 2.0))
    else:  # sinus: breathing speeds the heart up and down by a few per cent
        n = int(end / (0.85 * p["rr"][i])) + 2
        beat = np.arange(n) * p["rr"][i]
        swing = rng.uniform(0.01, 0.12) * np.sin(2 * np.pi * p["breath"][i] * beat + rng.uniform(0, 2 * np.pi))
        times = np.cumsum(p["rr"][i] * (1 + swing + 0.02 * rng.standard_normal(n)))
    times -= rng.uniform(0, 1.5)  # a random phase: the window may start anywhere in the cycle
    pvc = np.zeros(len(times), dtype=bool)
    if kind == 2:  # each ectopic beat comes early; the next sinus beat stays on time (compensatory pause)
        inside = np.flatnonzero((times > _LEAD_IN + 0.4) & (times < _LEAD_IN + WINDOW / RATE - 0.4))[1::2]
        for j in rng.choice(inside, size=min(len(inside), rng.integers(1, 3)), replace=False):
            times[j] = times[j - 1] + (times[j] - times[j - 1]) * rng.uniform(0.6, 0.85)
            pvc[j] = True
    keep = (times > _LEAD_IN - 0.6) & (times < end)  # beats whose waves can reach into the window
    return times[keep], pvc[keep]


def _waves(
    kinds: np.ndarray,
    who: np.ndarray,
    times: np.ndarray,
    rr: np.ndarray,
    pvc: np.ndarray,
    p: dict,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the [beats x 5, 3] array of (centre s, amplitude mV, sigma s) of every P, Q, R, S, T wave."""
    amp = p["amp"][who] * rng.uniform(0.9, 1.1, (len(who), 5))  # small beat-to-beat changes
    width = p["width"][who].copy()
    offset = np.stack(
        [
            -p["pr"][who],
            -1.8 * width[:, 1] - 0.01,
            0 * rr,
            1.8 * width[:, 3] + 0.01,
            p["qt"][who] * np.sqrt(np.clip(rr, 0.4, 1.5)),
        ],
        1,
    )
    amp[kinds == 1, 0] = 0  # AF: no organised atrial activity, so no P wave
    # A PVC starts in the ventricle: no P, a wide QRS of either polarity, a T wave opposite to it.
    n, u = int(pvc.sum()), rng.uniform
    sign = rng.choice([-1.0, 1.0], n)
    amp[pvc] = np.stack(
        [
            0 * sign,
            -0.2 * sign,
            u(0.7, 1.8, n) * sign * p["amp"][who[pvc], 2],
            -u(0.2, 0.6, n) * sign,
            -u(0.3, 0.6, n) * sign,
        ],
        1,
    )
    width[pvc] = np.stack(
        [np.full(n, 0.03), u(0.015, 0.03, n), u(0.016, 0.035, n), u(0.015, 0.03, n), u(0.06, 0.09, n)], 1
    )
    offset[pvc] = np.stack([np.zeros(n), -u(0.04, 0.06, n), np.zeros(n), u(0.04, 0.07, n), u(0.28, 0.36, n)], 1)
    return np.stack([(times[:, None] + offset).ravel(), amp.ravel(), width.ravel()], 1)


def _render(window: np.ndarray, waves: np.ndarray, count: int) -> np.ndarray:
    """Return [count, WINDOW]: each window's Gaussian waves summed, each drawn only near its centre."""
    pad = 2 * _HALF  # room for waves centred just outside the window, whose tails reach into it
    centre = ((waves[:, 0] - _LEAD_IN) * RATE + pad).astype(np.float32)  # samples from the padded start
    near = (centre >= _HALF) & (centre < WINDOW + pad + _HALF)
    window, centre, amp, sigma = window[near], centre[near], waves[near, 1:2], waves[near, 2:] * RATE
    nearest = np.round(centre)
    offset = np.arange(-_HALF, _HALF + 1)
    values = amp * np.exp(-0.5 * (((nearest - centre)[:, None] + offset) / sigma) ** 2)
    index = (window * (WINDOW + 2 * pad) + nearest.astype(np.int64))[:, None] + offset
    padded = np.bincount(index.ravel(), values.ravel(), minlength=count * (WINDOW + 2 * pad))
    return padded.reshape(count, WINDOW + 2 * pad)[:, pad : pad + WINDOW]


def _f_waves(kinds: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Return [windows, WINDOW] fibrillatory waves (4-9 Hz, frequency drifting) in AF windows, zero elsewhere."""
    n, t = len(kinds), np.arange(WINDOW) / RATE
    drift = np.cumsum(rng.normal(0, 0.05, (n, WINDOW)), axis=1)
    wave = np.sin(2 * np.pi * rng.uniform(4, 9, (n, 1)) * t + drift)
    return rng.uniform(0.01, 0.1, (n, 1)) * wave * (kinds[:, None] == 1)


def _noise(who: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    """Return [windows, WINDOW] of baseline wander, muscle (EMG) noise and powerline hum, in mV."""
    n, t = len(who), np.arange(WINDOW) / RATE
    phase = rng.uniform(0, 2 * np.pi, (n, 3))
    wander = p["wander"][who, None] * (
        np.sin(2 * np.pi * p["breath"][who, None] * t + phase[:, :1])
        + 0.5 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1, (n, 1)) * t + phase[:, 1:2])
    )
    # One window in five holds a burst of muscle activity (the wearer moves).
    burst = 1 + 3 * (rng.uniform(0, 1, (n, 1)) < 0.2) * np.exp(-(((t - rng.uniform(0, 4, (n, 1))) / 0.5) ** 2))
    emg = p["emg"][who, None] * burst * rng.standard_normal((n, WINDOW))
    hum = p["hum"][who, None] * np.sin(2 * np.pi * p["mains"][who, None] * t + phase[:, 2:])
    return wander + emg + hum


def generate(patients: int = 150, per_class: int = 12, seed: int = 0, noise: bool = True) -> dict[str, np.ndarray]:
    """Return synthetic windows: ``x`` float32 [N, 1, WINDOW] in mV, ``labels``, ``patient`` (ids), seeded.

    Every patient gets ``per_class`` windows of each rhythm in CLASSES (paroxysmal AF and occasional PVCs
    happen in the same person), so the classes are balanced and the class cannot be told from the patient.
    ``noise=False`` gives the very same windows without wander, muscle noise and hum (the heart alone).
    """
    rng = np.random.default_rng(seed)
    p = _patients(patients, rng)
    who = np.repeat(np.arange(patients), per_class * len(CLASSES))
    kinds = np.tile(np.repeat(np.arange(len(CLASSES)), per_class), patients)
    beats = [_rhythm(kind, p, i, rng) for kind, i in zip(kinds, who, strict=True)]
    window = np.repeat(np.arange(len(who)), [len(t) for t, _ in beats])
    times, pvc = np.concatenate([t for t, _ in beats]), np.concatenate([v for _, v in beats])
    rr = np.concatenate([np.diff(t, prepend=t[0] - p["rr"][i]) for (t, _), i in zip(beats, who, strict=True)])
    waves = _waves(kinds[window], who[window], times, rr, pvc, p, rng)
    scale = p["gain"][who, None] * rng.uniform(0.9, 1.1, (len(who), 1))
    x = scale * (_render(np.repeat(window, 5), waves, len(who)) + _f_waves(kinds, rng))
    if noise:
        x = x + _noise(who, p, rng)
    return {"x": x[:, None].astype(np.float32), "labels": kinds.astype(np.int64), "patient": who}


PATIENTS, PER_CLASS = 150, 12  # 5,400 windows; 60 % of the patients train, 20 % validate, 20 % test


def _who() -> np.ndarray:
    """Return the patient of every window that ``task`` generates (generate()'s order)."""
    return np.repeat(np.arange(PATIENTS), PER_CLASS * len(CLASSES))


def _split(seed: int) -> dict[str, np.ndarray]:
    """Return each split's window indices: whole patients go to one split, windows are shuffled within it."""
    who = _who()
    rng = np.random.default_rng(seed)
    groups = np.split(rng.permutation(PATIENTS), [int(0.6 * PATIENTS), int(0.8 * PATIENTS)])
    # Shuffled within each split, so that quick mode's first half of train still spans every training patient.
    return {
        name: rng.permutation(np.flatnonzero(np.isin(who, g)))
        for name, g in zip(("train", "val", "test"), groups, strict=True)
    }


def task(seed: int = 0) -> Task:
    """Return the synthetic ECG rhythm task, split by patient (test patients never appear in training)."""
    d = generate(PATIENTS, PER_CLASS, seed)
    return Task(
        name="ecg",
        domain="healthcare",
        input_shape=(1, WINDOW),
        classes=list(CLASSES),
        metric="balanced_accuracy",
        splits=make_splits(torch.from_numpy(d["x"]), d["labels"], _split(seed)),
        seed=seed,
        sample_rate=RATE,
        synthetic=True,
        description=f"SYNTHETIC single-lead ECG rhythms (generated by ll.ecg, not real patients): "
        f"{WINDOW / RATE:.1f} s windows at {RATE} Hz, normal / atrial fibrillation / premature "
        f"ventricular beats, {PATIENTS} patients x {PER_CLASS} windows per rhythm, split by "
        f"patient",
    )


def patients(task: Task, split: str = "test") -> np.ndarray:
    """Return the synthetic patient id of each window of ``split``, in the order of its tensors."""
    return _who()[_split(task.seed)[split]][: task.sizes()[split]]


def windows(signal: np.ndarray | torch.Tensor, rate: float, step: int = WINDOW) -> torch.Tensor:
    """Return a long single-lead recording (mV, RATE Hz) cut into task windows [n, 1, WINDOW], ``step`` apart."""
    x = torch.as_tensor(np.asarray(signal, dtype=np.float32)).squeeze()
    if rate != RATE:
        raise DataError(
            f"the ecg task's models take {RATE} Hz recordings, got {rate:g} Hz: resample to {RATE} Hz "
            f"first (e.g. scipy.signal.resample_poly(signal, {RATE}, {rate:g}))"
        )
    if x.dim() != 1 or len(x) < WINDOW:
        raise DataError(
            f"need one lead of at least {WINDOW} samples ({WINDOW / RATE:.2f} s at {RATE} Hz), got "
            f"shape {list(x.shape)}: record longer, or pass a single lead as a 1-D array"
        )
    return x.unfold(0, WINDOW, step).unsqueeze(1).contiguous()


def small_cnn(
    channels: tuple[int, ...] = (16, 32), kernel: int = 9, pool: int = 8, classes: int = 3, seed: int | None = 0
) -> nn.Sequential:
    """Return a wearable-sized 1-D CNN for ECG windows: (conv-ReLU-maxpool) per channel count, then one Linear."""
    from lightlab.models.zoo import cnn1d

    return cnn1d((1, WINDOW), classes, channels, kernel, pool, hidden=0, seed=seed)


# --- Screening: normal versus any arrhythmia ---------------------------------------------------------------
WINDOWS_PER_DAY = 86_400 / (WINDOW / RATE)  # continuous monitoring, one window after the other


def screening(cm: np.ndarray) -> dict[str, float]:
    """Return sensitivity, specificity, precision, F1 of 'any arrhythmia' vs 'normal' from a 3-class confusion."""
    # An AF window called PVC is still flagged for a doctor: collapse to normal (0) vs arrhythmia (1) first.
    flagged = cm[:, 1:].sum(axis=1)
    two = np.array([[cm[0, 0], flagged[0]], [cm[1:, 0].sum(), flagged[1:].sum()]])
    return metrics.binary(two, positive=1)


def arrhythmia_scores(model: nn.Module, task: Task, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Return (True where the window is an arrhythmia, the model's probability that it is one) over ``split``."""
    model.eval()
    x, y = task.splits[split].tensors
    with torch.inference_mode():
        probs = torch.cat([torch.softmax(model(chunk), dim=1) for chunk in x.split(256)])
    return (y != 0).numpy(), 1 - probs[:, 0].numpy()


def operating_point(truth: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Return sensitivity and specificity when every window scoring >= ``threshold`` raises an alarm."""
    alarm = scores >= threshold
    return {"sensitivity": float(alarm[truth].mean()), "specificity": float((~alarm[~truth]).mean())}


def roc(truth: np.ndarray, scores: np.ndarray) -> dict[str, np.ndarray]:
    """Return thresholds with the sensitivity and false-alarm rate (1 - specificity) at each, and the area."""
    thresholds = np.unique(np.concatenate([[0.0, 1.0 + 1e-9], scores]))[::-1]
    alarms = scores[None, :] >= thresholds[:, None]
    sens, fpr = alarms[:, truth].mean(axis=1), alarms[:, ~truth].mean(axis=1)
    return {
        "threshold": thresholds,
        "sensitivity": sens,
        "false_alarm_rate": fpr,
        "auc": float(np.sum(np.diff(fpr) * (sens[1:] + sens[:-1]) / 2)),
    }


def screening_report(models: dict[str, nn.Module], task: Task, split: str = "test") -> Report:
    """Return sensitivity, specificity and false alarms a day (argmax decision) of each model, as a Report."""
    report = Report()
    how = f"{split} split, {task.sizes()[split]} synthetic windows, normal vs any arrhythmia, argmax decision"
    for name, model in models.items():
        y, pred = metrics.predictions(model, task.loader(split, batch_size=256))
        scores = screening(metrics.confusion(y, pred, task.num_classes))
        report.add(name, "sensitivity", 100 * scores["sensitivity"], "%", how)
        report.add(name, "specificity", 100 * scores["specificity"], "%", how)
        report.add(
            name,
            "false_alarms_per_day",
            (1 - scores["specificity"]) * WINDOWS_PER_DAY,
            "alarms",
            f"(1 - specificity) x {WINDOWS_PER_DAY:,.0f} windows a day of normal rhythm",
        )
    return report


# --- Battery: energy per window x windows a day, against a wearable cell ------------------------------------
ENERGY_METRICS = ("energy_per_inference", "energy_above_idle_per_inference", "energy_modelled_per_inference")


def battery_days(
    joules_per_window: float, capacity_mah: float = 200.0, volts: float = 3.7, windows_per_day: float = WINDOWS_PER_DAY
) -> float:
    """Return the days a full cell lasts if classifying windows were the only load (1 mAh = 3.6 coulombs)."""
    if not (capacity_mah > 0 and volts > 0 and joules_per_window > 0 and windows_per_day > 0):
        raise ValueError(
            f"need capacity_mah, volts, joules_per_window and windows_per_day all > 0; got "
            f"{capacity_mah}, {volts}, {joules_per_window}, {windows_per_day}"
        )
    return capacity_mah * 3.6 * volts / (joules_per_window * windows_per_day)


def battery_report(report: Report, capacity_mah: float = 200.0, volts: float = 3.7) -> Report:
    """Return, for every energy row of ``report``, the battery days it implies, carrying that row's method."""
    days = Report(environment=report.environment)
    for r in report.rows:
        if r["metric"] not in ENERGY_METRICS or r["model"] == "idle":
            continue
        joules, note = r["value"], r.get("note")
        if not joules > 0:  # NaN (unavailable) or <= 0 (a disturbed idle baseline): no figure rather than a wrong one
            value, note = float("nan"), f"no figure: the energy row reads {joules:.3g} J; {note or ''}".rstrip("; ")
        else:
            value = battery_days(joules, capacity_mah, volts)
        days.add(
            r["model"],
            f"battery_days ({r['metric']})",
            value,
            "days",
            f"{capacity_mah:g} mAh x {volts:g} V / ({joules:.3g} J per window x {WINDOWS_PER_DAY:,.0f} windows "
            f"a day); the J per window: {r['method']}",
            note=note,
        )
    return days


# --- Plots and the threshold explorer ------------------------------------------------------------------------
def plot_examples(task: Task, split: str = "test", patient: int | None = None) -> go.Figure:
    """Return one window of each rhythm from one (by default the first) patient of ``split``, in mV."""
    x, y = task.splits[split].tensors
    who = patients(task, split)
    patient = int(who[0]) if patient is None else patient
    fig = make_subplots(
        rows=len(CLASSES),
        cols=1,
        shared_xaxes=True,
        subplot_titles=[f"{name} (synthetic patient {patient})" for name in CLASSES],
        vertical_spacing=0.08,
    )
    t = np.arange(WINDOW) / RATE
    for k in range(len(CLASSES)):
        i = int(np.flatnonzero((who == patient) & (y.numpy() == k))[0])
        fig.add_scatter(x=t, y=x[i, 0].numpy(), row=k + 1, col=1, showlegend=False, line={"width": 1.2})
        fig.update_yaxes(title_text="mV", row=k + 1, col=1)
    fig.update_xaxes(title_text="seconds", row=len(CLASSES), col=1)
    fig.update_layout(height=560, margin={"t": 40, "b": 40, "l": 50, "r": 20})
    return fig


class ThresholdExplorer(Explorer):
    """Move the alarm threshold: sensitivity against specificity, and false alarms a day, for each model."""

    def __init__(self, models: dict[str, nn.Module], task: Task, split: str = "test"):
        self.models, self.task, self.split = models, task, split
        # Probabilities are computed once per model; moving the slider only re-counts alarms.
        self.scores = {name: arrhythmia_scores(model, task, split) for name, model in models.items()}
        self.curves = {name: roc(*s) for name, s in self.scores.items()}
        self.threshold = w.FloatSlider(
            value=0.5, min=0.01, max=0.99, step=0.01, description="threshold", continuous_update=False
        )
        self.summary, self.output = w.HTML(), w.Output()
        self.result: Report | None = None
        self.runs = 0
        self.threshold.observe(lambda _change: self.run(), names="value")
        self.widget = w.VBox([self.threshold, self.summary, self.output])

    def run(self) -> Report:
        """Count alarms at the current threshold for every model, redraw the curves, return the Report."""
        t = self.threshold.value
        report = Report()
        how = f"{self.split} split, synthetic, alarm when P(arrhythmia) >= {t:.2f}"
        fig = go.Figure()
        lines = []
        for i, (name, (truth, scores)) in enumerate(self.scores.items()):
            point, curve = operating_point(truth, scores, t), self.curves[name]
            alarms = (1 - point["specificity"]) * WINDOWS_PER_DAY
            report.add(name, "sensitivity", 100 * point["sensitivity"], "%", how)
            report.add(name, "specificity", 100 * point["specificity"], "%", how)
            report.add(
                name,
                "false_alarms_per_day",
                alarms,
                "alarms",
                f"(1 - specificity) x {WINDOWS_PER_DAY:,.0f} windows a day of normal rhythm; {how}",
            )
            colour = plots._colour(i)
            fig.add_scatter(
                x=curve["false_alarm_rate"],
                y=curve["sensitivity"],
                mode="lines",
                line_color=colour,
                name=f"{name} (area {curve['auc']:.3f})",
            )
            fig.add_scatter(
                x=[1 - point["specificity"]],
                y=[point["sensitivity"]],
                mode="markers",
                marker={"size": 12, "color": colour},
                showlegend=False,
            )
            lines.append(
                f"<b>{name}</b>: catches {point['sensitivity']:.1%} of arrhythmic windows, "
                f"misses {1 - point['sensitivity']:.1%}; {1 - point['specificity']:.1%} of normal windows "
                f"raise an alarm = {alarms:,.0f} false alarms a day"
            )
        # Zoom on the part of the curves a log axis shows (false-alarm rates from 0.06 % to 100 %).
        low = min(c["sensitivity"][c["false_alarm_rate"] >= 10**-3.2].min() for c in self.curves.values())
        fig.update_layout(
            xaxis_title="false-alarm rate (1 - specificity)",
            yaxis_title="sensitivity",
            height=400,
            xaxis_type="log",
            xaxis_range=[-3.2, 0],
            yaxis_range=[max(0.0, low - 0.02), 1.01],
            margin={"t": 30, "b": 40},
        )
        self.result, self.runs = report, self.runs + 1
        self.redraw(fig)
        self.summary.value = "<br>".join(lines)
        return report

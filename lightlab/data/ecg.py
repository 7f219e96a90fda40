"""Synthetic ECG for portable heart-rhythm screening: a seeded generator, the ``ecg`` task and its plumbing.

The screening case study built on it (sensitivity, thresholds, battery days) is ``ll.screening``.

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

import numpy as np
import torch

from lightlab.data.tasks import DataError, Task, make_splits

RATE = 125  # Hz, as in widely used downsampled MIT-BIH sets
WINDOW = 512  # samples per window: 4.1 s, three to eight beats
RHYTHMS = ["normal", "atrial fibrillation", "premature ventricular beats"]
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


def generate_ecg(patients: int = 150, per_class: int = 12, seed: int = 0, noise: bool = True) -> dict[str, np.ndarray]:
    """Return synthetic windows: ``x`` float32 [N, 1, WINDOW] in mV, ``labels``, ``patient`` (ids), seeded.

    Every patient gets ``per_class`` windows of each rhythm in RHYTHMS (paroxysmal AF and occasional PVCs
    happen in the same person), so the classes are balanced and the class cannot be told from the patient.
    ``noise=False`` gives the very same windows without wander, muscle noise and hum (the heart alone).
    """
    rng = np.random.default_rng(seed)
    p = _patients(patients, rng)
    who = np.repeat(np.arange(patients), per_class * len(RHYTHMS))
    kinds = np.tile(np.repeat(np.arange(len(RHYTHMS)), per_class), patients)
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
    """Return the patient of every window that ``task`` generates (generate_ecg()'s order)."""
    return np.repeat(np.arange(PATIENTS), PER_CLASS * len(RHYTHMS))


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
    d = generate_ecg(PATIENTS, PER_CLASS, seed)
    return Task(
        name="ecg",
        domain="healthcare",
        input_shape=(1, WINDOW),
        classes=list(RHYTHMS),
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

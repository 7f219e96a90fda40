"""Hybrid edge/cloud cascade: a small on-device model answers when it is confident, the rest goes to the cloud.

``outcomes`` runs both models ONCE over a split (confidence of the small model, who is right, measured batch-1
latencies, modelled compute energy); ``evaluate``, ``sweep`` and ``best_threshold`` then only do arithmetic on
those arrays, for any threshold and any ``Network``. Per input:

- latency = edge latency (always) + for offloaded inputs: RTT + payload / uplink + cloud latency / cloud_speedup;
- device energy = edge compute (modelled from MACs and DRAM traffic) + for offloaded inputs: radio power x
  (airtime + waiting for the answer) + the radio's tail (it stays powered after a transfer).

Network figures are rounded from published measurements or assumed: each preset names its source. They are orders of
magnitude for teaching, not a measurement of any particular network: build your own ``Network`` for yours.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.face.widgets import Explorer
from lightlab.measurement import measure
from lightlab.measurement.energy import modelled_energy
from lightlab.measurement.report import Report

# 0.00 .. 0.99 in steps of 0.01, then finer near 1 where a well-trained model's confidences pile up.
THRESHOLDS = np.round(np.concatenate([np.linspace(0, 0.99, 100), [0.995, 0.999, 0.9999, 1.0]]), 4)


@dataclass(frozen=True)
class Network:
    """A link from the device to the cloud: round trip, uplink speed and what the radio draws (assumptions)."""

    name: str
    rtt_ms: float  # round-trip time of a small request, without the payload's airtime
    uplink_mbps: float
    radio_power_w: float  # radio active: sending and waiting for the answer
    tail_s: float = 0.0  # the radio stays in a high-power state this long after a transfer
    tail_power_w: float = 0.0
    source: str = "user-defined"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                continue
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"Network {f.name} must be a finite number >= 0, got {value!r}; times, speeds and "
                    f"powers cannot be negative (use 0 for a radio without a tail)"
                )
        if self.uplink_mbps <= 0:
            raise ValueError(
                f"Network uplink_mbps must be > 0, got {self.uplink_mbps}; a link that sends nothing "
                f"cannot offload (use threshold 0 to keep every input on the device)"
            )

    def transfer_ms(self, nbytes: int) -> float:
        """Return the milliseconds to send ``nbytes`` and get a (tiny) answer back: RTT + airtime of the payload."""
        return self.rtt_ms + 8 * nbytes / (self.uplink_mbps * 1e6) * 1e3

    def radio_joules(self, nbytes: int, wait_ms: float = 0.0) -> float:
        """Return the radio's energy for one offload: power x (transfer + ``wait_ms`` for the answer) + tail."""
        return self.radio_power_w * (self.transfer_ms(nbytes) + wait_ms) / 1e3 + self.tail_power_w * self.tail_s


_HUANG = "Huang et al., 'A close examination of performance and power characteristics of 4G LTE networks', MobiSys 2012"
NETWORKS = {
    n.name: n
    for n in [
        Network(
            "Wi-Fi",
            30,
            20,
            0.13,
            0.24,
            0.12,
            f"power model and tail rounded from {_HUANG} (Wi-Fi: ~0.13 W active, 0.24 s tail at ~0.12 W); "
            f"RTT and uplink assumed for a home network",
        ),
        Network(
            "4G LTE",
            70,
            6,
            1.29,
            11.6,
            1.06,
            f"rounded from {_HUANG}: median uplink ~6 Mbit/s, ~1.29 W active base power, 11.6 s tail at ~1.06 W; "
            f"RTT assumed",
        ),
        Network(
            "5G",
            30,
            50,
            2.0,
            10.0,
            1.5,
            "assumed, of the order reported by Xu et al., 'Understanding operational 5G', SIGCOMM 2020 (5G NSA "
            "draws more power than LTE and keeps a long tail); RTT and uplink vary widely with the band",
        ),
        Network(
            "NB-IoT",
            1500,
            0.02,
            0.6,
            20.0,
            0.1,
            "assumed from 3GPP NB-IoT targets (tens of kbit/s, latency up to ~10 s, 23 dBm transmit power); "
            "a low-power wide-area link for sensors",
        ),
    ]
}


def get_network(network: str | Network) -> Network:
    """Return ``network`` itself, or the preset of that name (raising with the list of presets)."""
    if isinstance(network, Network):
        return network
    if network not in NETWORKS:
        raise ValueError(
            f"unknown network {network!r}; use one of {', '.join(NETWORKS)} or build a "
            f"Network(name, rtt_ms, uplink_mbps, radio_power_w, tail_s, tail_power_w)"
        )
    return NETWORKS[network]


def check_threshold(threshold: float) -> float:
    """Return ``threshold`` as a float, or raise if it is not a number in [0, 1]."""
    if not (isinstance(threshold, int | float | np.floating) and 0 <= threshold <= 1):  # NaN fails the range too
        raise ValueError(
            f"threshold must be in [0, 1], got {threshold}; the small model answers when its "
            f"confidence exceeds it: 0 keeps every input on the device, 1 sends every input to the cloud"
        )
    return float(threshold)


def confidence(logits: torch.Tensor) -> torch.Tensor:
    """Return each row's confidence: its largest softmax probability (1/classes .. 1)."""
    return logits.softmax(dim=-1).max(dim=-1).values


def offload_mask(conf: np.ndarray | torch.Tensor, threshold: float) -> np.ndarray:
    """Return True where an input goes to the cloud: the small model's confidence is <= ``threshold``."""
    # "<=" makes both ends exact: 0 offloads nothing (confidence >= 1/classes > 0), 1 offloads everything.
    return np.asarray(conf) <= check_threshold(threshold)


@dataclass
class Outcomes:
    """One pass of both models over a split: the small model's confidence, who is right, and per-input costs."""

    task: str
    split: str
    confidence: np.ndarray
    small_correct: np.ndarray
    large_correct: np.ndarray
    payload_bytes: int  # one input as stored (float32), uncompressed, no protocol headers
    edge_ms: float
    cloud_ms: float  # the large model measured on THIS machine at batch 1
    edge_j: float
    large_j: float  # the large model's modelled energy, had it run on the device
    timing_method: str
    timing_note: str | None = None


_CACHE: dict[tuple, tuple] = {}  # key -> (weak refs to the models, fingerprint, Outcomes)


def _fingerprint(model: nn.Module) -> float:
    # A cheap sum of the weights: a model retrained in place must not be served stale outcomes.
    return float(sum(p.detach().double().sum() for p in model.parameters()))


@torch.inference_mode()
def _logits(model: nn.Module, task: Task, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [(model(x), y) for x, y in task.loader(split, batch_size=256, shuffle=False)]
    return torch.cat([p for p, _ in parts]), torch.cat([y for _, y in parts])


def outcomes(small: nn.Module, large: nn.Module, task: Task, split: str = "test") -> Outcomes:
    """Return both models' outcomes on ``split`` (one forward pass each, then cached) and their measured costs."""
    key = (id(small), id(large), id(task), task.seed, split)
    prints = (_fingerprint(small), _fingerprint(large))
    hit = _CACHE.get(key)
    if hit and hit[0][0]() is small and hit[0][1]() is large and hit[1] == prints:
        return hit[2]
    example = task.example(1, split)
    for name, model in (("small", small), ("large", large)):
        measure._check_fits(name, model, example, task)
    small_logits, y = _logits(small.eval(), task, split)
    large_logits, _ = _logits(large.eval(), task, split)
    timings = measure.interleaved({"edge": small, "cloud": large}, example, rounds=int(config.pick(3, 2)))
    notes = [t.note for t in timings.values() if t.note]
    result = Outcomes(
        task.name,
        split,
        confidence=confidence(small_logits).numpy(),
        small_correct=(small_logits.argmax(1) == y).numpy(),
        large_correct=(large_logits.argmax(1) == y).numpy(),
        payload_bytes=example[0].numel() * example.element_size(),
        edge_ms=timings["edge"].p50,
        cloud_ms=timings["cloud"].p50,
        edge_j=modelled_energy(small, example)["value"],
        large_j=modelled_energy(large, example)["value"],
        timing_method=timings["edge"].method + ", best of interleaved rounds",
        timing_note=notes[0] if notes else None,
    )
    if len(_CACHE) >= 4:  # a few splits of one or two model pairs; forget the oldest
        del _CACHE[next(iter(_CACHE))]
    _CACHE[key] = ((weakref.ref(small), weakref.ref(large)), prints, result)
    return result


def costs(
    o: Outcomes, mask: np.ndarray, network: Network, cloud_speedup: float = 1.0, edge: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return per-input (latency ms, device energy J, bytes sent) when ``mask`` marks the offloaded inputs.

    ``edge=False`` is the cloud-only system: no model on the device, every input sent.
    """
    if not cloud_speedup > 0:
        raise ValueError(f"cloud_speedup must be > 0, got {cloud_speedup}; 1 = the cloud is as fast as this machine")
    cloud_ms = o.cloud_ms / cloud_speedup
    mask = np.asarray(mask, dtype=bool)
    latency = edge * o.edge_ms + mask * (network.transfer_ms(o.payload_bytes) + cloud_ms)
    energy = edge * o.edge_j + mask * network.radio_joules(o.payload_bytes, wait_ms=cloud_ms)
    return latency, energy, mask * o.payload_bytes


def _correct(o: Outcomes, mask: np.ndarray) -> np.ndarray:
    return np.where(mask, o.large_correct, o.small_correct)


def _add_system(
    report: Report, name: str, o: Outcomes, mask: np.ndarray, network: Network, cloud_speedup: float, edge: bool = True
) -> None:
    latency, energy, sent = costs(o, mask, network, cloud_speedup, edge)
    correct = _correct(o, mask)
    data = f"{o.split} split of {o.task!r}, {len(mask)} inputs, one pass of each model"
    timing = (
        f"modelled per input from measured p50 latencies ({o.timing_method}; cloud = large model on this "
        f"machine / {cloud_speedup:g}) + {network.name} RTT {network.rtt_ms:g} ms + payload / "
        f"{network.uplink_mbps:g} Mbit/s"
    )
    report.add(name, "accuracy", 100 * correct.mean(), "%", data)
    report.add(
        name,
        "offload_share",
        100 * mask.mean(),
        "%",
        f"{data}; inputs sent to the cloud",
        note=f"privacy: {mask.mean():.0%} of the inputs leave the device" if mask.any() else None,
    )
    report.add(name, "latency_mean", latency.mean(), "ms", timing, note=o.timing_note)
    report.add(name, "latency_p95", float(np.percentile(latency, 95)), "ms", timing, note=o.timing_note)
    report.add(
        name,
        "energy_device_per_input",
        energy.mean(),
        "J",
        f"modelled (edge compute: Horowitz 2014 MACs and DRAM traffic; radio: {network.name} power x "
        f"active time + {network.tail_s:g} s tail per offload, assumed)",
        note=network.source,
    )
    report.add(
        name,
        "data_sent_per_input",
        sent.mean(),
        "bytes",
        "offloaded inputs x their float32 bytes, uncompressed, no protocol headers",
    )


def evaluate(
    small: nn.Module,
    large: nn.Module,
    task: Task,
    threshold: float,
    network: str | Network = "4G LTE",
    split: str = "test",
    cloud_speedup: float = 1.0,
) -> Report:
    """Return a Report comparing edge only, cloud only, the large model on the device and the cascade."""
    threshold, network = check_threshold(threshold), get_network(network)
    o = outcomes(small, large, task, split)
    n = len(o.confidence)
    report = Report(environment=measure.environment())
    _add_system(report, "edge only (small)", o, np.zeros(n, bool), network, cloud_speedup)
    _add_system(report, "cloud only (large)", o, np.ones(n, bool), network, cloud_speedup, edge=False)
    _add_system(
        report, f"cascade (threshold {threshold:g})", o, offload_mask(o.confidence, threshold), network, cloud_speedup
    )
    report.add("large on the device", "accuracy", 100 * o.large_correct.mean(), "%", f"{split} split")
    report.add("large on the device", "latency_mean", o.cloud_ms, "ms", o.timing_method, note=o.timing_note)
    report.add(
        "large on the device",
        "energy_device_per_input",
        o.large_j,
        "J",
        "modelled (Horowitz 2014 45 nm: MACs and DRAM traffic)",
    )
    return report


def sweep(
    small: nn.Module,
    large: nn.Module,
    task: Task,
    network: str | Network = "4G LTE",
    thresholds: np.ndarray | list[float] | None = None,
    split: str = "test",
    cloud_speedup: float = 1.0,
) -> pd.DataFrame:
    """Return one row per threshold: accuracy and offload share (%), latency (ms), device energy (J), bytes sent."""
    network = get_network(network)
    thresholds = THRESHOLDS if thresholds is None else [check_threshold(t) for t in thresholds]
    o = outcomes(small, large, task, split)
    rows = []
    for t in thresholds:
        mask = offload_mask(o.confidence, t)
        latency, energy, sent = costs(o, mask, network, cloud_speedup)
        rows.append(
            {
                "threshold": float(t),
                "accuracy": 100 * _correct(o, mask).mean(),
                "offload_share": 100 * mask.mean(),
                "latency_mean_ms": latency.mean(),
                "latency_p95_ms": float(np.percentile(latency, 95)),
                "energy_j": energy.mean(),
                "bytes_sent": sent.mean(),
            }
        )
    return pd.DataFrame(rows)


def network_costs(
    small: nn.Module,
    large: nn.Module,
    task: Task,
    threshold: float,
    networks: list[str | Network] | None = None,
    split: str = "test",
) -> pd.DataFrame:
    """Return one row per network: its assumed figures, then the cascade's and cloud-only's latency and energy."""
    rows = []
    for network in [get_network(n) for n in (networks or list(NETWORKS))]:
        report = evaluate(small, large, task, threshold, network, split)
        cascade = f"cascade (threshold {check_threshold(threshold):g})"
        rows.append(
            {
                "network": network.name,
                "rtt_ms": network.rtt_ms,
                "uplink_mbps": network.uplink_mbps,
                "radio_w": network.radio_power_w,
                "tail_s": network.tail_s,
                "cascade_latency_ms": report.value(cascade, "latency_mean"),
                "cascade_energy_mj": 1e3 * report.value(cascade, "energy_device_per_input"),
                "cloud_only_latency_ms": report.value("cloud only (large)", "latency_mean"),
                "cloud_only_energy_mj": 1e3 * report.value("cloud only (large)", "energy_device_per_input"),
                "large_on_device_energy_mj": 1e3 * report.value("large on the device", "energy_device_per_input"),
                "source": network.source,
            }
        )
    return pd.DataFrame(rows)


def best_threshold(
    small: nn.Module,
    large: nn.Module,
    task: Task,
    max_offload: float = 0.3,
    split: str = "val",
    thresholds: np.ndarray | list[float] | None = None,
) -> float:
    """Return the threshold with the best ``split`` accuracy among those offloading <= ``max_offload`` (least offload
    on ties). Pick it on validation data, never on the test split you report."""
    if not (isinstance(max_offload, int | float) and 0 <= max_offload <= 1):
        raise ValueError(f"max_offload must be in [0, 1], got {max_offload}; 0.3 allows 30 % of inputs to the cloud")
    df = sweep(small, large, task, thresholds=thresholds, split=split)
    allowed = df[df["offload_share"] <= 100 * max_offload + 1e-9]
    best = allowed.sort_values(["accuracy", "offload_share"], ascending=[False, True], kind="stable")
    return float(best["threshold"].iloc[0])


def reliability(o: Outcomes, bins: int = 10) -> pd.DataFrame:
    """Return the small model's accuracy per confidence bin: a calibrated model's accuracy matches its confidence."""
    if not (isinstance(bins, int) and bins >= 1):
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    edges = np.linspace(0, 1, bins + 1)  # bins below 1/classes stay empty: no softmax maximum is that low
    which = np.clip(np.digitize(o.confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = [
        {
            "from": edges[b],
            "to": edges[b + 1],
            "inputs": int((which == b).sum()),
            "mean_confidence": float(o.confidence[which == b].mean()) if (which == b).any() else float("nan"),
            "accuracy": float(o.small_correct[which == b].mean()) if (which == b).any() else float("nan"),
        }
        for b in range(bins)
    ]
    return pd.DataFrame(rows)


def plot_sweep(df: pd.DataFrame, threshold: float | None = None) -> go.Figure:
    """Return three panels against the threshold: accuracy and offload share, mean latency, device energy."""
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=["accuracy and offload share (%)", "mean latency (ms)", "device energy per input (J, modelled)"],
    )
    panels = [
        (1, "accuracy", "accuracy"),
        (1, "offload_share", "sent to the cloud"),
        (2, "latency_mean_ms", "mean latency"),
        (2, "latency_p95_ms", "p95 latency"),
        (3, "energy_j", "energy"),
    ]
    for i, (col, column, label) in enumerate(panels):
        fig.add_scatter(
            x=df["threshold"], y=df[column], name=label, mode="lines", row=1, col=col, line={"color": plots._colour(i)}
        )
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="grey", row="all", col="all")
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_xaxes(title_text="confidence threshold")
    fig.update_layout(height=360, margin={"t": 50, "b": 40, "l": 50, "r": 20}, legend={"orientation": "h"})
    return fig


class Cascade(nn.Module):
    """Both models as one module: the small one answers every input, the large one only the unsure ones.

    Its forward returns each input's logits from the model that answered, so ``ll.train.evaluate`` and
    ``ll.measure.latency`` see the real computation (on one machine: no network in it).
    """

    def __init__(self, small: nn.Module, large: nn.Module, threshold: float):
        super().__init__()
        self.small, self.large, self.threshold = small, large, check_threshold(threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the small model's logits, replaced by the large model's where its confidence <= threshold."""
        logits = self.small(x)
        unsure = confidence(logits) <= self.threshold
        if unsure.any():
            logits = logits.clone()
            logits[unsure] = self.large(x[unsure]).to(logits.dtype)
        return logits


class CascadeExplorer(Explorer):
    """Move the confidence threshold, pick a network and its round-trip time: ``evaluate`` and ``sweep`` rerun."""

    def __init__(self, small: nn.Module, large: nn.Module, task: Task, split: str = "test"):
        import ipywidgets as w

        self.small, self.large, self.task, self.split = small, large, task, split
        self.threshold = w.FloatSlider(value=0.9, min=0.0, max=1.0, step=0.01, description="threshold")
        self.network = w.Dropdown(options=list(NETWORKS), value="4G LTE", description="network")
        self.rtt = w.FloatLogSlider(
            value=NETWORKS["4G LTE"].rtt_ms, base=10, min=0, max=4, step=0.01, description="RTT (ms)"
        )
        self.summary = w.Label()
        self.output = w.Output()
        self.result: Report | None = None
        self.network.observe(self._preset, names="value")
        for control in (self.threshold, self.rtt):
            control.observe(lambda _change: self.run(), names="value")
        self.widget = w.VBox([w.HBox([self.threshold, self.network, self.rtt]), self.summary, self.output])

    def _preset(self, _change) -> None:
        rtt = NETWORKS[self.network.value].rtt_ms
        if self.rtt.value == rtt:
            self.run()
        else:
            self.rtt.value = rtt  # its observer reruns

    def run(self) -> Report:
        """Evaluate the cascade at the current threshold and network, redraw the curves and return the Report."""
        net = replace(
            NETWORKS[self.network.value],
            rtt_ms=float(self.rtt.value),
            name=f"{self.network.value} (RTT {self.rtt.value:.0f} ms)",
        )
        t = self.threshold.value
        report = evaluate(self.small, self.large, self.task, t, net, self.split)
        self.result = report
        self.redraw(plot_sweep(sweep(self.small, self.large, self.task, net, split=self.split), t))
        name = f"cascade (threshold {t:g})"
        self.summary.value = (
            f"threshold {t:.2f} on {net.name}: accuracy {report.value(name, 'accuracy'):.1f} % (small "
            f"{report.value('edge only (small)', 'accuracy'):.1f}, large "
            f"{report.value('cloud only (large)', 'accuracy'):.1f}), {report.value(name, 'offload_share'):.0f} % "
            f"sent to the cloud, mean latency {report.value(name, 'latency_mean'):.1f} ms, "
            f"{1e3 * report.value(name, 'energy_device_per_input'):.2f} mJ per input on the device (modelled)"
        )
        return report

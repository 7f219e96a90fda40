"""Hybrid edge/cloud cascade: a small on-device model answers when it is confident, the rest goes to the cloud.

``outcomes`` runs both models ONCE over a split (confidence of the small model, who is right, batch-1 latencies
measured in turns by ``measure.interleaved``, modelled compute energy); ``evaluate_cascade``, ``sweep_thresholds``
and ``best_threshold`` then only do arithmetic on those arrays, for any threshold and any ``Network``
(``links``). Per input:

- latency = edge latency (always) + for offloaded inputs: RTT + payload / uplink + cloud latency / cloud_speedup;
- device energy = edge compute (modelled from MACs and DRAM traffic) + for offloaded inputs: radio power x
  (airtime + waiting for the answer) + the radio's tail (it stays powered after a transfer).

The curves and the explorer are in ``ll.views.cascade``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from lightlab.data.tasks import Task
from lightlab.measurement import measure, profiles, stats
from lightlab.measurement.energy import modelled_energy
from lightlab.measurement.report import Report
from lightlab.techniques.adaptive.links import NETWORKS, Network, get_network

# 0.00 .. 0.99 in steps of 0.01, then finer near 1 where a well-trained model's confidences pile up.
THRESHOLDS = np.round(np.concatenate([np.linspace(0, 0.99, 100), [0.995, 0.999, 0.9999, 1.0]]), 4)


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
    energy_method: str = "modelled (server, Horowitz 2014, 45 nm)"  # the profile edge_j and large_j are priced on
    edge_timing: measure.Timing | None = None  # None: edge_ms and cloud_ms were given, not measured
    cloud_timing: measure.Timing | None = None

    @property
    def timing_method(self) -> str:
        """Return how edge_ms and cloud_ms were obtained."""
        return self.edge_timing.method if self.edge_timing else "given, not measured"

    @property
    def timing_note(self) -> str | None:
        """Return the disturbed note of either timing (None on a quiet machine)."""
        return next((t.note for t in (self.edge_timing, self.cloud_timing) if t and t.note), None)


_CACHE: dict[tuple, tuple] = {}  # key -> (weak refs to the models, fingerprint, Outcomes)


def _fingerprint(model: nn.Module) -> float:
    # A cheap sum of the weights: a model retrained in place must not be served stale outcomes.
    return float(sum(p.detach().double().sum() for p in model.parameters()))


@torch.inference_mode()
def _logits(model: nn.Module, task: Task, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    parts = [(model(x), y) for x, y in task.loader(split, batch_size=256, shuffle=False)]
    return torch.cat([p for p, _ in parts]), torch.cat([y for _, y in parts])


def outcomes(
    small: nn.Module, large: nn.Module, task: Task, split: str = "test", profile: str | profiles.Profile = "phone"
) -> Outcomes:
    """Return both models' outcomes on ``split`` (one forward pass each, then cached) and their measured costs;
    their compute energy is modelled on the device ``profile`` (``ll.profiles``)."""
    device = profiles.lookup(profile)
    key = (id(small), id(large), id(task), task.seed, split, device)
    prints = (_fingerprint(small), _fingerprint(large))
    hit = _CACHE.get(key)
    if hit and hit[0][0]() is small and hit[0][1]() is large and hit[1] == prints:
        return hit[2]
    example = task.example(1, split)
    for name, model in (("small", small), ("large", large)):
        measure._check_fits(name, model, example, task)
    small_logits, y = _logits(small.eval(), task, split)
    large_logits, _ = _logits(large.eval(), task, split)
    timings = measure.interleaved({"edge": small, "cloud": large}, example)
    result = Outcomes(
        task.name,
        split,
        confidence=confidence(small_logits).numpy(),
        small_correct=(small_logits.argmax(1) == y).numpy(),
        large_correct=(large_logits.argmax(1) == y).numpy(),
        payload_bytes=example[0].numel() * example.element_size(),
        edge_ms=timings["edge"].p50,
        cloud_ms=timings["cloud"].p50,
        edge_j=modelled_energy(small, example, profile=device)["value"],
        large_j=modelled_energy(large, example, profile=device)["value"],
        energy_method=device.label,
        edge_timing=timings["edge"],
        cloud_timing=timings["cloud"],
    )
    if len(_CACHE) >= 4:  # a few splits of one or two model pairs; forget the oldest
        del _CACHE[next(iter(_CACHE))]
    _CACHE[key] = ((weakref.ref(small), weakref.ref(large)), prints, result)
    return result


def input_costs(
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
    latency, energy, sent = input_costs(o, mask, network, cloud_speedup, edge)
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
        f"{o.energy_method.removesuffix(')')}: edge compute; radio: {network.name} power x "
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


def evaluate_cascade(
    small: nn.Module,
    large: nn.Module,
    task: Task,
    threshold: float,
    network: str | Network = "4G LTE",
    *,
    split: str = "test",
    cloud_speedup: float = 1.0,
) -> Report:
    """Return a Report comparing edge only, cloud only, the large model on the device and the cascade, with the
    two models' measured batch-1 latencies (rows ``latency_p50_b1``) the modelled ones are built from."""
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
        o.energy_method,
    )
    for name, timing in (("edge only (small)", o.edge_timing), ("large on the device", o.cloud_timing)):
        if timing is not None:
            measure.add_timing(report, name, timing)
    return report


def paired_test(small: nn.Module, large: nn.Module, task: Task, threshold: float, split: str = "test") -> stats.Paired:
    """Return the exact McNemar test of the cascade at ``threshold`` against the large model alone, input by input."""
    o = outcomes(small, large, task, split)
    cascade_correct = _correct(o, offload_mask(o.confidence, threshold))
    names = (f"cascade (threshold {threshold:g})", "cloud only (large)")
    return stats.mcnemar_correct(cascade_correct, o.large_correct, names)


def sweep_thresholds(
    small: nn.Module,
    large: nn.Module,
    task: Task,
    network: str | Network = "4G LTE",
    *,
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
        latency, energy, sent = input_costs(o, mask, network, cloud_speedup)
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
    *,
    split: str = "test",
) -> pd.DataFrame:
    """Return one row per network: its assumed figures, then the cascade's and cloud-only's latency and energy."""
    rows = []
    for network in [get_network(n) for n in (networks or list(NETWORKS))]:
        report = evaluate_cascade(small, large, task, threshold, network, split=split)
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
    *,
    split: str = "val",
    thresholds: np.ndarray | list[float] | None = None,
) -> float:
    """Return the threshold with the best ``split`` accuracy among those offloading <= ``max_offload`` (least offload
    on ties). Pick it on validation data, never on the test split you report."""
    if not (isinstance(max_offload, int | float) and 0 <= max_offload <= 1):
        raise ValueError(f"max_offload must be in [0, 1], got {max_offload}; 0.3 allows 30 % of inputs to the cloud")
    df = sweep_thresholds(small, large, task, thresholds=thresholds, split=split)
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

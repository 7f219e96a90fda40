"""Solutions to the exercises of notebook 22 (kept apart from the notebook; tested in tests/test_solutions_22.py)."""

import numpy as np

import lightlab as ll


def offload_mask(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Exercise 1: True where the small model is unsure (confidence <= threshold): those inputs go to the cloud."""
    return np.asarray(confidence) <= threshold


def cascade_latency(confidence: np.ndarray, threshold: float, edge_ms: float, cloud_ms: float, rtt_ms: float,
                    payload_bytes: int, uplink_mbps: float) -> float:
    """Exercise 2: mean latency in ms; every input pays the edge model, offloaded ones also the trip and the cloud."""
    airtime_ms = 8 * payload_bytes / (uplink_mbps * 1e6) * 1e3
    offloaded = offload_mask(confidence, threshold)
    return float(np.mean(edge_ms + offloaded * (rtt_ms + airtime_ms + cloud_ms)))


def exercise_3() -> tuple[float, ll.Report]:
    """Exercise 3: on lidar, choose the threshold on validation (<= 20 % offloaded), then read the test split once."""
    task = ll.load("lidar")
    small, large = ll.zoo.pretrained("lidar-small"), ll.zoo.pretrained("lidar-large")
    threshold = ll.adaptive.cascade.best_threshold(small, large, task, max_offload=0.2, split="val")
    return threshold, ll.adaptive.cascade.evaluate_cascade(small, large, task, threshold, "Wi-Fi", split="test")

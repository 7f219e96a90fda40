import numpy as np
import pytest
from _solutions import load as solutions

import lightlab as ll


def test_solutions_pass_the_checkers():
    sol = solutions("22_hybrid_edge_cloud")
    assert ll.checks.offload_mask(sol.offload_mask).startswith("correct")
    assert ll.checks.offload_mask(ll.adaptive.cascade.offload_mask).startswith("correct")
    assert ll.checks.cascade_latency(sol.cascade_latency).startswith("correct")


def test_typical_mask_mistakes_get_their_hint():
    mistakes = {
        "CONFIDENT inputs": lambda c, t: np.asarray(c) > t,
        "exactly at the threshold": lambda c, t: np.asarray(c) < t,
        "must `return`": lambda c, t: None,
        "compare each confidence": lambda c, t: np.zeros(len(c), bool),
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.offload_mask(wrong)


def test_typical_latency_mistakes_get_their_hint():
    def latency(edge_on_offloaded=True, mbits=True, rtt=True, cloud=True, reduce=np.mean, send=np.less_equal):
        def fn(conf, t, edge_ms, cloud_ms, rtt_ms, payload_bytes, uplink_mbps):
            off = send(conf, t)
            trip = rtt * rtt_ms + (8 if mbits else 1) * payload_bytes / (uplink_mbps * 1e6) * 1e3 + cloud * cloud_ms
            return float(reduce(np.where(off, edge_on_offloaded * edge_ms + trip, edge_ms)))

        return fn

    mistakes = {
        "also on those it then sends away": latency(edge_on_offloaded=False),
        "megaBITS": latency(mbits=False),
        "network round trip": latency(rtt=False),
        "cloud model needs time": latency(cloud=False),
        "MEAN over the inputs": latency(reduce=np.sum),
        "send the confident inputs": latency(send=np.greater),
        "exactly at the threshold": latency(send=np.less),
        "must `return`": lambda *args, **kwargs: None,
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.cascade_latency(wrong)


def test_exercise_3_target_is_reachable_with_a_threshold_chosen_on_validation():
    threshold, report = solutions("22_hybrid_edge_cloud").exercise_3()
    cascade = f"cascade (threshold {threshold:g})"
    assert report.value(cascade, "offload_share") <= 20
    assert report.value(cascade, "accuracy") >= report.value("cloud only (large)", "accuracy")

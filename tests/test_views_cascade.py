"""Tests for lightlab.face.views.cascade: the threshold curves and the explorer, driven from its controls."""

from dataclasses import replace

import pytest

import lightlab as ll
from lightlab.face.views import cascade as views
from lightlab.techniques.adaptive import cascade, links


@pytest.fixture(scope="module")
def models():
    return ll.zoo.pretrained("digits-small"), ll.zoo.pretrained("digits-large")


def test_plot_thresholds_draws_every_curve_and_the_threshold(models, digits):
    fig = views.plot_thresholds(cascade.sweep_thresholds(*models, digits, "Wi-Fi"), threshold=0.9)
    assert [t.name for t in fig.data] == ["accuracy", "sent to the cloud", "mean latency", "p95 latency", "energy"]
    assert {s.x0 for s in fig.layout.shapes} == {0.9} and fig.layout.yaxis3.type == "log"
    assert fig.layout.legend.y > 1  # above the panels, not over the x-axis ticks and titles
    energy = fig.layout.annotations[-1].text.replace("<br>", " ")
    assert energy == "device energy per input (J), modelled (compute: phone, Edge TPU + LPDDR4; radio: assumed)"


def test_explorer_reruns_evaluate_from_its_controls(models, digits, monkeypatch):
    explorer = views.CascadeExplorer(*models, digits)
    first = explorer.run()
    assert isinstance(first, ll.Report)
    explorer.threshold.value = 1.0
    assert explorer.result.value("cascade (threshold 1)", "offload_share") == 100
    slow = explorer.result.value("cascade (threshold 1)", "latency_mean")
    runs = []
    monkeypatch.setattr(
        views, "evaluate_cascade", lambda *a, **k: runs.append(a[4]) or cascade.evaluate_cascade(*a, **k)
    )
    explorer.network.value = "NB-IoT"  # its preset round trip (1.5 s) replaces LTE's, in one run
    assert [net.rtt_ms for net in runs] == [1500]
    assert explorer.rtt.value == pytest.approx(1500, rel=0.01)
    nb_iot = replace(links.NETWORKS["NB-IoT"], rtt_ms=explorer.rtt.value)
    longer = nb_iot.transfer_ms(256) - links.NETWORKS["4G LTE"].transfer_ms(256)  # same models: same cloud time
    assert explorer.result.value("cascade (threshold 1)", "latency_mean") - slow == pytest.approx(longer)
    assert "sent to the cloud" in explorer.summary.value and "NB-IoT (RTT 1500 ms)" in explorer.summary.value
    explorer.rtt.value = 5.0  # the slider alone reruns, on the same network
    assert "NB-IoT (RTT 5 ms)" in explorer.summary.value

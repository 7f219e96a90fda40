"""Tests for lightlab.techniques.nas_latency: a latency table measured per layer predicts whole models."""

import pytest
import torch
from torch import nn

import lightlab as ll
from lightlab.techniques import nas_latency
from lightlab.techniques.nas_latency import check_predictions, measure_table

SHAPE = (1, 8, 8)


def _models() -> list[nn.Sequential]:
    """A linear classifier, two MLPs and a small CNN for 8x8 digits."""
    return [
        ll.zoo.mlp(64, 10, (), seed=0),
        ll.zoo.mlp(64, 10, (8,), seed=0),
        ll.zoo.mlp(64, 10, (16,), seed=0),
        nn.Sequential(ll.blocks.make("conv", 1, 8, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)),
    ]


def test_latency_table_predicts_whole_models_within_a_sane_band(digits):
    # One thread: on a shared machine a multi-threaded conv waits for a busy core, milliseconds for microseconds.
    with ll.config.using_threads(1):
        table = measure_table(_models(), SHAPE, rounds=1)
        assert table.overhead_ms > 0 and all(v >= 0 for v in table.entries.values())
        assert table.threads == 1 and "batch 1" in table.method and "1 threads" in table.method
        check = check_predictions(table, {str(i): m for i, m in enumerate(_models())}, digits.example(1), rounds=2)
        for name in check.models():
            predicted, measured = check.value(name, "latency_predicted"), check.value(name, "latency_p50_b1")
            assert 0.2 < predicted / measured < 5  # loose: the benchmark checks the 20 % target on a quiet machine
            assert check.value(name, "prediction_error") == pytest.approx(100 * abs(predicted - measured) / measured)
        # a layer the table has not seen is named, and add() measures it
        small = ll.zoo.pretrained("digits-small")
        with pytest.raises(KeyError, match="no entry for Linear.*out_features=32"):
            table.predict(small, SHAPE)
        assert table.add(small, SHAPE, rounds=1).predict(small, SHAPE) > table.overhead_ms
        with pytest.raises(ValueError, match="measured at batch 1; give an example of that batch, not 4"):
            check_predictions(table, {"small": small}, digits.example(4))


def test_layers_are_timed_in_turns_by_the_one_timing_rule(monkeypatch):
    seen = []
    real = ll.measure.interleaved

    def spy(models, x, rounds=None, repeats=None):
        seen.append((len(models), rounds))
        return real(models, x, rounds=rounds, repeats=3)

    monkeypatch.setattr(nas_latency.measure, "interleaved", spy)
    table = measure_table(_models()[:2], SHAPE)
    # every distinct layer and the empty model, in one interleaved comparison at the default rounds
    assert seen == [(len(table.entries) + 1, None)]
    wrapped = nas_latency._OnOwnInput([nn.Flatten()], torch.ones(1, 2, 2))
    assert wrapped(torch.zeros(7, 3)).shape == (1, 4)  # the layer runs on its own input, whatever it is given

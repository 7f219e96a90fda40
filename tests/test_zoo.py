import shutil

import pytest
import torch

import lightlab as ll
from lightlab import zoo


def test_names_and_sizes():
    assert zoo.names("digits") == ["digits-large", "digits-small"]
    large = ll.measure.count_params(zoo.create("digits-large"))
    small = ll.measure.count_params(zoo.create("digits-small"))
    assert 900_000 < large < 1_300_000
    assert 1_000 < small < 10_000


def test_create_is_seeded():
    a, b = zoo.create("digits-small"), zoo.create("digits-small")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_pretrained_accuracy(digits, zoo_models):
    large = ll.train.evaluate(zoo_models["large"], digits)
    small = ll.train.evaluate(zoo_models["small"], digits)
    assert large >= 0.97 and small >= 0.95
    assert abs(large - small) <= 0.02


def test_unknown_model_lists_names():
    with pytest.raises(KeyError, match="unknown model 'resnet'.*digits-large"):
        zoo.create("resnet")


def test_tampered_weights_are_refused(tmp_path, monkeypatch):
    copy = tmp_path / "digits-small.safetensors"
    shutil.copy(zoo.weights_path("digits-small"), copy)
    with open(copy, "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\xff\xff\xff\xff")
    monkeypatch.setattr(ll.config, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(zoo.WeightsError, match="digits-small.safetensors.*sha256.*refusing"):
        zoo.pretrained("digits-small")


def test_missing_weights_say_how_to_retrain(tmp_path, monkeypatch):
    monkeypatch.setattr(ll.config, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(zoo.WeightsError, match="missing.*lightlab train --task digits --model digits-large"):
        zoo.pretrained("digits-large")


def test_training_reproduces_shipped_small_weights(monkeypatch, tmp_path):
    """The shipped small model is retrained from its seed, on the full split, to the same bytes."""
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    model, history = zoo.train_from_scratch("digits-small", progress=False)
    assert zoo.save(model, tmp_path / "w.safetensors") == zoo.SHA256["digits-small"]
    assert history.best_val_score > 0.95

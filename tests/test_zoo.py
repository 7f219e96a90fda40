import shutil

import pytest
import torch

import lightlab as ll
from lightlab.models import zoo


def test_names_and_sizes():
    assert zoo.names("digits") == ["digits-large", "digits-small"]
    large = ll.measure.count_params(zoo.create("digits-large"))
    small = ll.measure.count_params(zoo.create("digits-small"))
    assert 900_000 < large < 1_300_000
    assert 1_000 < small < 10_000


def test_create_is_seeded():
    a, b = zoo.create("digits-small"), zoo.create("digits-small")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    # another seed gives another initialisation (the builders must not reseed with their own default)
    for name in ("digits-small", "digits-large", "activity-small"):
        c = zoo.create(name, seed=1)
        assert not torch.equal(next(zoo.create(name).parameters()), next(c.parameters())), name


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
    with pytest.raises(zoo.WeightsError, match="digits-small.safetensors.*sha256.*refusing.*git checkout"):
        zoo.pretrained("digits-small")


def test_missing_weights_say_how_to_restore_them(tmp_path, monkeypatch):
    # Retraining is no repair: on another CPU it writes other bytes, which the hash check then refuses.
    monkeypatch.setattr(ll.config, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(
        zoo.WeightsError, match=r"missing.*git checkout -- lightlab/weights/digits-large.*force-reinstall.*no repair"
    ):
        zoo.pretrained("digits-large")

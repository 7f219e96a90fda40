"""The zoo's training recipes: the shipped weights are reproducible, and a sweep trial is deterministic."""

import pytest

import lightlab as ll


def test_training_reproduces_shipped_small_weights(monkeypatch, digits):
    """Retraining the shipped small model from its seed, on the full split, gives the shipped weights.

    Byte for byte on the CPU model they were trained on (an Intel Xeon); another CPU's vector kernels round sums in
    another order, so there the weights agree within float rounding and the predictions are the same.
    """
    monkeypatch.setenv("LIGHTLAB_QUICK", "0")
    model, history = ll.recipes.train_from_scratch("digits-small", progress=False)
    shipped = ll.zoo.pretrained("digits-small")
    pairs = zip(model.state_dict().values(), shipped.state_dict().values(), strict=True)
    assert max(float((a - b).abs().max()) for a, b in pairs) < 1e-4
    assert ll.train.evaluate(model, digits) == ll.train.evaluate(shipped, digits)
    assert history.best_val_score > 0.95


def test_train_trial_is_deterministic_and_names_a_wrong_model():
    a = ll.recipes.train_trial(seed=1, epochs=2)
    assert a == ll.recipes.train_trial(seed=1, epochs=2)
    assert set(a) == {"val_accuracy", "test_accuracy", "epochs", "parameters"} and a["parameters"] == 2410
    assert 0.3 < a["test_accuracy"] <= 1
    with pytest.raises(ValueError, match="belongs to task 'faces'"):
        ll.recipes.train_trial(task="digits", model="faces-small")

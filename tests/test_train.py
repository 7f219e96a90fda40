import pytest

import lightlab as ll


def test_fit_learns_and_is_reproducible(digits):
    runs = []
    for _ in range(2):
        model = ll.zoo.mlp(64, 10, (16,))
        history = ll.train.fit_(model, digits, epochs=5, lr=1e-2, seed=3, progress=False)
        runs.append((ll.train.evaluate(model, digits), history.train_loss))
    assert runs[0] == runs[1]
    assert runs[0][0] > 0.85
    assert runs[0][1][-1] < runs[0][1][0]


def test_early_stopping_keeps_the_best_epoch(digits):
    model = ll.zoo.mlp(64, 10, (16,))
    history = ll.train.fit_(model, digits, epochs=40, lr=5e-2, patience=2, progress=False)
    assert len(history.val_scores) < 40
    assert history.best_val_score == max(history.val_scores)
    assert ll.train.evaluate(model, digits, "val") == pytest.approx(history.best_val_score)


def test_bad_epochs():
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        ll.train.fit_(ll.zoo.mlp(64, 10), ll.load("digits"), epochs=0)


def test_fit_can_report_its_energy_beside_its_time(digits):
    quiet = ll.train.fit_(ll.zoo.mlp(64, 10, (16,)), digits, epochs=2, progress=False)
    assert quiet.joules is None and quiet.energy_method is None
    history = ll.train.fit_(ll.zoo.mlp(64, 10, (16,)), digits, epochs=2, progress=False, energy=True)
    assert history.joules > 0 and history.seconds > 0
    assert "CodeCarbon" in history.energy_method
    assert history.val_scores == quiet.val_scores  # tracking changes nothing about the training

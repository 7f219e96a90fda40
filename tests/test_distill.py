import math

import pytest
import torch
import torch.nn.functional as F

import lightlab as ll
from lightlab.techniques import distill as D


def student(seed: int = 0):
    return ll.zoo.mlp(64, 10, (128,), seed=seed)


@pytest.fixture(scope="module")
def teacher():
    return ll.zoo.pretrained("digits-large")


def test_kd_loss_matches_a_hand_computation():
    # one image, two classes: student logits (1, 0), teacher logits (2, 0), label 0, T = 2, alpha = 0.5
    p_t = [math.e / (1 + math.e), 1 / (1 + math.e)]  # softmax((2, 0) / 2)
    p_s = [math.exp(0.5) / (1 + math.exp(0.5)), 1 / (1 + math.exp(0.5))]  # softmax((1, 0) / 2)
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s, strict=True))
    ce = math.log(1 + math.exp(-1))  # -log softmax((1, 0))[0]
    got = D.kd_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]]), torch.tensor([0]), 2.0, 0.5)
    assert got.item() == pytest.approx(0.5 * 4 * kl + 0.5 * ce, rel=1e-6)


def test_kd_loss_limits():
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert D.kd_loss(s, t, y, 4.0, 0.0).item() == pytest.approx(F.cross_entropy(s, y).item())
    assert D.kd_loss(t, t, y, 4.0, 1.0).item() == pytest.approx(0.0, abs=1e-6)  # the student copies the teacher
    unlabelled = torch.full_like(y, D.UNLABELLED)
    soft_only = D.kd_loss(s, t, unlabelled, 4.0, 0.7)
    assert torch.isfinite(soft_only) and soft_only.item() == pytest.approx(0.7 * D.kd_loss(s, t, y, 4.0, 1.0).item())


def test_bad_settings_say_what_is_allowed():
    s = torch.zeros(1, 3)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        D.kd_loss(s, s, torch.tensor([0]), 0.0, 0.5)
    for bad in (float("inf"), float("nan")):  # inf made every soft target equal and the weights NaN
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            D.DistillConfig(temperature=bad)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        D.DistillConfig(alpha=1.5)
    with pytest.raises(ValueError, match=r"label_fraction must be in \(0, 1\]"):
        D.DistillConfig(label_fraction=0)
    with pytest.raises(ValueError, match="epochs must be None.*got 0"):
        D.DistillConfig(epochs=0)
    with pytest.raises(ValueError, match="patience must be a whole number"):
        D.DistillConfig(patience=0)
    cfg = D.DistillConfig()
    with pytest.raises(AttributeError):
        cfg.alpha = 0.5  # frozen: a changed setting is a new config (dataclasses.replace)
    assert cfg.epochs is None and cfg.n_epochs == 20  # quick mode's default, derived


def test_label_subset_is_stratified_and_keeps_validation(digits):
    few = D.label_subset(digits, 0.1, seed=0)
    y = few.splits["train"].tensors[1]
    assert len(y) == pytest.approx(0.1 * len(digits.splits["train"]), abs=1)
    assert set(y.tolist()) == set(range(10))
    assert few.splits["val"] is digits.splits["val"]
    assert not torch.equal(y, D.label_subset(digits, 0.1, seed=1).splits["train"].tensors[1])


def test_kd_pays_off_with_few_labels(digits, teacher):
    config = D.DistillConfig(label_fraction=0.1, seed=0)
    before = {k: v.clone() for k, v in student().state_dict().items()}
    kd = D.distill(student(), config, task=digits, teacher=teacher)
    plain = D.baseline(student(), config, task=digits)
    assert 100 * ll.train.evaluate(kd, digits) >= 100 * ll.train.evaluate(plain, digits) + 3
    assert 100 * ll.train.evaluate(kd, digits) >= 0.97 * 100 * ll.train.evaluate(teacher, digits) - 2
    assert all(torch.equal(before[k], v) for k, v in student().state_dict().items())
    again = D.distill(student(), config, task=digits, teacher=teacher)  # same seed, same student
    assert all(torch.equal(a, b) for a, b in zip(kd.state_dict().values(), again.state_dict().values(), strict=True))


def test_compare_reports_both_settings_with_spread(digits, teacher):
    report = D.compare_kd(
        student, D.DistillConfig(epochs=2), task=digits, teacher=teacher, seeds=(0, 1), label_fraction=0.2
    )
    for setting in ("all labels", "20% labels"):
        for model in ("student, no KD", "student, KD"):
            row = next(r for r in report.rows if r["model"] == model and r["metric"] == f"accuracy, {setting}")
            assert 0 < row["value"] <= 100 and row["spread"] >= 0 and "seeds [0, 1]" in row["method"]
        gain = report.value("student, KD", f"KD gain, {setting}")
        assert gain == pytest.approx(
            report.value("student, KD", f"accuracy, {setting}") - report.value("student, no KD", f"accuracy, {setting}")
        )
        # Two seeds: the Student-t interval is mean +- 12.71 * sd / sqrt(2), paired by seed.
        row = next(r for r in report.rows if r["metric"] == f"KD gain, {setting}")
        low, high = report.interval("student, KD", f"KD gain, {setting}")
        assert high - gain == pytest.approx(gain - low) == pytest.approx(12.706 * row["spread"] / 2**0.5, rel=1e-3)
    assert report.ratio("params", "teacher", "student") > 100

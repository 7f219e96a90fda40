import dataclasses

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import lightlab as ll
from lightlab.techniques.adaptive import controller as ctl
from lightlab.techniques.adaptive import slimmable as sl

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def trained(digits):
    model = sl.slim_cnn(SHAPE, 10)
    history = sl.train_sandwich_(model, sl.SlimConfig(epochs=4), task=digits, progress=False)
    return model, history


def test_a_width_w_forward_equals_a_small_network_built_from_the_leading_channels():
    model = sl.slim_cnn(SHAPE, 10).eval()
    x = torch.randn(5, *SHAPE)
    sl.set_width_(model, 0.5)
    conv1, conv2, fc1, fc2 = (m for m in model if isinstance(m, sl.SLIM))
    small = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 16, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )
    with torch.no_grad():
        for plain, slim, (o, i) in zip(
            [small[0], small[2], small[6], small[8]],
            [conv1, conv2, fc1, fc2],
            [(32, 1), (64, 32), (256, 64 * 16), (10, 256)],
            strict=True,
        ):
            plain.weight.copy_(slim.weight[:o, :i])
            plain.bias.copy_(slim.bias[:o])
        assert torch.allclose(model(x), small.eval()(x), atol=1e-5)
        assert torch.allclose(model(x), sl.extract(model, 0.5)(x), atol=1e-6)
    # switching is in place and copies nothing: the same storage serves every width
    pointer = conv1.weight.data_ptr()
    assert sl.set_width_(model, 0.25) is model and sl.set_width_(model, 1.0)[0].weight.data_ptr() == pointer


def test_set_width_changes_the_macs_and_parameters_in_use():
    model = sl.slim_cnn(SHAPE, 10)
    x = torch.zeros(1, *SHAPE)
    full_macs, full_params = ll.measure.count_macs(model, x), sl.params_in_use(model)
    assert full_params == ll.measure.count_params(model) == ll.measure.count_params(ll.zoo.cnn(SHAPE, 10))
    sl.set_width_(model, 0.25)
    assert sl.width_of(model) == 0.25
    assert 12 < full_macs / ll.measure.count_macs(model, x) < 17  # the big layers shrink as w^2
    assert sl.params_in_use(model) == ll.measure.count_params(sl.fixed_cnn(SHAPE, 10, 0.25)) < full_params / 12
    assert ll.measure.count_params(model) == full_params  # all weights are still stored


def test_sandwich_training_is_seeded_and_every_width_learns(digits, trained):
    model, _ = trained
    x, y = digits.splits["train"].tensors
    few = dataclasses.replace(digits, splits={**digits.splits, "train": TensorDataset(x[:128], y[:128])})
    runs = [
        sl.train_sandwich_(sl.slim_cnn(SHAPE, 10), sl.SlimConfig(epochs=1, seed=3), task=few, progress=False)
        for _ in range(2)
    ]
    assert runs[0].train_loss == runs[1].train_loss and runs[0].val_scores == runs[1].val_scores
    # four quick epochs on half the images: far above chance (10 %) at every width, the widest well trained
    accuracy = {w: ll.train.evaluate(sl.set_width_(model, w), digits) for w in sl.WIDTHS}
    assert min(accuracy.values()) > 0.6 and accuracy[1.0] > 0.8, accuracy
    assert sl.sandwich_widths(sl.SlimConfig(), __import__("random").Random(0))[::3] == [1.0, 0.25]


def test_profile_measures_every_operating_point(digits, trained):
    model, _ = trained
    sl.set_width_(model, 0.5)
    report = sl.profile(model, digits, widths=(0.25, 1.0), repeats=5, rounds=2)
    assert sl.width_of(model) == 0.5  # left at the width it had
    sl.set_width_(model, 1.0)
    assert report.models() == ["w=0.25", "w=1"]
    assert "best of 2 alternating rounds" in next(r["method"] for r in report.rows if r["metric"] == "latency_p50_b1")
    assert report.ratio("macs", "w=1", "w=0.25") > 12
    assert report.value("w=0.25", "peak_memory") < report.value("w=1", "peak_memory") / 10
    assert all(r["method"] for r in report.rows)
    assert report.value("w=1", "accuracy") == pytest.approx(100 * ll.train.evaluate(sl.set_width_(model, 1.0), digits))
    assert ctl.Controller(report).pick(ctl.ResourceBudget()) in (0.25, 1.0)
    separate = sl.compare_separate(report, digits, sl.SlimConfig(epochs=2), model=model)
    assert separate.models() == ["separately trained w=0.25", "w=0.25", "separately trained w=1", "w=1"]
    gap = separate.value("separately trained w=1", "accuracy") - report.value("w=1", "accuracy")
    assert separate.value("w=1", "accuracy gap to separately trained") == pytest.approx(gap)
    # every gap carries its paired test: the McNemar interval of (separately trained - slimmable) and the verdict
    verdicts = sl.gap_verdicts(separate)
    assert list(verdicts) == ["w=0.25", "w=1"] and sl.width_of(model) == 1.0
    for point, verdict in verdicts.items():
        row = next(r for r in separate.rows if r["model"] == point and r["metric"].startswith("accuracy gap"))
        low, high = row["interval"]
        assert low <= row["value"] <= high and "exact McNemar" in verdict and "n = 360" in verdict
        assert verdict.startswith(("no detectable difference", f"separately trained {point}", f"slimmable {point}"))
    unpaired = sl.compare_separate(report, digits, sl.SlimConfig(epochs=1))
    assert "pass model=" in sl.gap_verdicts(unpaired)["w=1"]


def test_bad_widths_and_models_are_refused(digits):
    model = sl.slim_cnn(SHAPE, 10)
    with pytest.raises(ValueError, match=r"width must be in \(0, 1\], got 1.5"):
        sl.set_width_(model, 1.5)
    with pytest.raises(ValueError, match="width must be in"):
        sl.SlimConfig(widths=(0, 1.0))
    with pytest.raises(ValueError, match=r"SlimConfig widths must be distinct, increasing .*got \(1.0, 0.5\)"):
        sl.SlimConfig(widths=(1.0, 0.5))
    for field, bad, allowed in [
        ("epochs", 0, "an integer >= 1, or None"),
        ("lr", -1.0, "a learning rate > 0"),
        ("patience", 0, "an integer >= 1"),
        ("random_widths", -1, "an integer >= 0"),
    ]:
        with pytest.raises(ValueError, match=f"SlimConfig {field} must be {allowed}.*got {bad}"):
            sl.SlimConfig(**{field: bad})
    with pytest.raises(dataclasses.FrozenInstanceError):
        sl.SlimConfig().lr = 1.0
    with pytest.raises(TypeError, match="no SlimConv2d/SlimLinear layers; build it with slim_cnn"):
        sl.set_width_(ll.zoo.cnn(SHAPE, 10), 0.5)

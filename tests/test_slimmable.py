import dataclasses
import math

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
    history = sl.train_sandwich(model, digits, sl.SlimConfig(epochs=4), progress=False)
    return model, history


def hand_profile() -> ll.Report:
    """Four operating points made by hand: accuracy rises with width, so do latency, memory and energy."""
    report = ll.Report()
    for w, acc, ms, kb, mj in [
        (0.25, 95.0, 0.1, 300, 0.05),
        (0.5, 97.0, 0.2, 1200, 0.2),
        (0.75, 98.0, 0.3, 2600, 0.45),
        (1.0, 98.2, 0.4, 4600, 0.8),
    ]:
        name = sl.point_name(w)
        report.add(name, "width", w, "x", "by hand").add(name, "accuracy", acc, "%", "by hand")
        report.add(name, "latency_p50_b1", ms, "ms", "by hand").add(name, "peak_memory", kb * 1e3, "bytes", "by hand")
        report.add(name, "energy_modelled_per_inference", mj * 1e-3, "J", "modelled (by hand)")
    return report


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
        sl.train_sandwich(sl.slim_cnn(SHAPE, 10), few, sl.SlimConfig(epochs=1, seed=3), progress=False)
        for _ in range(2)
    ]
    assert runs[0].train_loss == runs[1].train_loss and runs[0].val_scores == runs[1].val_scores
    # four quick epochs on half the images: far above chance (10 %) at every width, the widest well trained
    accuracy = {w: ll.train.evaluate(sl.set_width_(model, w), digits) for w in sl.WIDTHS}
    assert min(accuracy.values()) > 0.6 and accuracy[1.0] > 0.8, accuracy
    assert sl.sandwich_widths(sl.SlimConfig(), __import__("random").Random(0))[::3] == [1.0, 0.25]


def test_profile_measures_every_operating_point(digits, trained):
    model, _ = trained
    report = sl.profile(model, digits, widths=(0.25, 1.0), repeats=5, rounds=1)
    assert report.models() == ["w=0.25", "w=1"]
    assert report.ratio("macs", "w=1", "w=0.25") > 12
    assert report.value("w=0.25", "peak_memory") < report.value("w=1", "peak_memory") / 10
    assert all(r["method"] for r in report.rows)
    assert report.value("w=1", "accuracy") == pytest.approx(100 * ll.train.evaluate(sl.set_width_(model, 1.0), digits))
    assert ctl.Controller(report).pick(ctl.Budget()) in (0.25, 1.0)
    separate = sl.compare_separate(report, digits, sl.SlimConfig(epochs=2))
    assert separate.models() == ["separately trained w=0.25", "w=0.25", "separately trained w=1", "w=1"]
    gap = separate.value("separately trained w=1", "accuracy") - report.value("w=1", "accuracy")
    assert separate.value("w=1", "accuracy gap to separately trained") == pytest.approx(gap)


def test_controller_picks_the_most_accurate_point_that_fits_every_budget():
    c = ctl.Controller(hand_profile())
    assert c.pick(ctl.Budget()) == 1.0
    assert c.pick(ctl.Budget(latency_ms=0.35)) == 0.75
    assert c.pick(ctl.Budget(latency_ms=0.35, memory_bytes=2e6)) == 0.5
    assert c.pick(ctl.Budget(latency_ms=0.2)) == 0.5  # a limit equal to a point's cost fits
    # battery 20 % allows 40 % of the widest width's 0.8 mJ = 0.32 mJ: w=0.5 (0.2 mJ)
    assert c.energy_limit(ctl.Budget(battery=0.2)) == pytest.approx(0.32e-3)
    decision = c.decide(ctl.Budget(battery=0.2))
    assert decision.width == 0.5 and decision.accuracy_cost == pytest.approx(1.2)
    assert "battery 20 %: runs at width 0.5" in decision.summary and "-1.2 points" in decision.summary
    assert c.pick(ctl.Budget(battery=0.6)) == 1.0 and c.pick(ctl.Budget(energy_j=0.1e-3)) == 0.25


def test_an_impossible_budget_names_the_tightest_feasible_one():
    c = ctl.Controller(hand_profile())
    with pytest.raises(
        ctl.BudgetError,
        match=r"latency <= 0.01 ms; the fastest \(w=0.25\) needs 0.1 ms: raise the "
        r"budget to at least 0.1 ms",
    ):
        c.pick(ctl.Budget(latency_ms=0.01))
    with pytest.raises(ctl.BudgetError, match=r"memory .* at least 3e\+05 bytes"):
        c.pick(ctl.Budget(memory_bytes=1000))
    with pytest.raises(ctl.BudgetError, match="charge the battery to at least 3 %"):
        c.pick(ctl.Budget(battery=0.01))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"latency_ms": -1}, "latency_ms must be a positive"),
        ({"memory_bytes": math.nan}, "memory_bytes must be"),
        ({"battery": 1.5}, r"battery must be a charge in \[0, 1\], got 1.5; write 20 % as 0.2"),
        ({"battery": math.nan}, "battery must be"),
        ({"energy_j": 0}, "energy_j must be"),
    ],
)
def test_bad_budgets_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ctl.Budget(**kwargs)


def test_bad_widths_and_models_are_refused(digits):
    model = sl.slim_cnn(SHAPE, 10)
    with pytest.raises(ValueError, match=r"width must be in \(0, 1\], got 1.5"):
        sl.set_width_(model, 1.5)
    with pytest.raises(ValueError, match="width must be in"):
        sl.SlimConfig(widths=(0, 1.0))
    with pytest.raises(TypeError, match="no SlimConv2d/SlimLinear layers; build it with slim_cnn"):
        sl.set_width_(ll.zoo.cnn(SHAPE, 10), 0.5)
    with pytest.raises(ValueError, match="no latency_p50_b"):
        ctl.Controller(ll.Report())


def test_explorer_and_simulation_follow_the_controller():
    explorer = ctl.BudgetExplorer(hand_profile())
    assert explorer.run().width == 1.0
    explorer.battery.value = 20
    assert explorer.result.width == 0.5 and explorer.summary.value.startswith("battery 20 %: runs at width 0.5")
    explorer.latency.value = explorer.latency.min
    assert explorer.result is None and "raise the budget" in explorer.summary.value
    decisions, fig = ctl.simulate(ctl.Controller(hand_profile()), ctl.battery_day(busy_latency_ms=0.15))
    widths = [d.width for d in decisions]
    assert widths[0] == 1.0 and widths[8] == 0.25 and widths[-1] == 0.25 and len(fig.data) == 3

"""Tests for lightlab.techniques.adaptive.early_exit: the exit rule, joint training and the measured sweep."""

import dataclasses

import pytest
import torch
from torch.utils.data import TensorDataset

import lightlab as ll
from lightlab.techniques.adaptive import early_exit as ee
from lightlab.techniques.adaptive import slimmable as sl

SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def trained(digits):
    model = ee.exit_cnn(SHAPE, 10)
    history = ee.train_exits_(model, ee.ExitConfig(epochs=4), task=digits, progress=False)
    return model.eval(), history


@pytest.fixture(scope="module")
def swept(digits, trained):
    model, _ = trained
    slim = sl.slim_cnn(SHAPE, 10)  # untrained: a cheap second model to time beside the thresholds
    others = {"w=0.25": sl.AtWidth(slim, 0.25)}
    return ee.sweep(model, digits, (0.0, 0.5, 0.9, 1.01), others=others, inputs=40, rounds=3), others


def test_the_full_network_is_the_zoo_cnn_with_exit_heads_added():
    model, cnn = ee.exit_cnn(SHAPE, 10).eval(), ll.zoo.cnn(SHAPE, 10).eval()
    x = torch.randn(4, *SHAPE)
    with torch.inference_mode():
        assert torch.equal(model(x), cnn(x))  # same layers, same seeded start
        outs = model.forward_all(x)
    assert [o.shape for o in outs] == [torch.Size([4, 10])] * 3 and torch.equal(outs[-1], cnn(x))
    assert model.n_exits == 3
    # the heads are seeded too: two builds are identical
    again = ee.exit_cnn(SHAPE, 10)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))


def test_exit_index_takes_the_first_confident_exit_or_the_last():
    # 2 exits, 3 inputs, 2 classes; softmax of [0, 0] is exactly 0.5
    logits = torch.tensor([[[4.0, 0.0], [0.0, 0.0], [0.0, 0.0]], [[4.0, 0.0], [4.0, 0.0], [0.0, 0.0]]])
    assert ee.exit_index(logits, 0.9).tolist() == [0, 1, 1]  # the third input: no exit is sure, the last answers
    assert ee.exit_index(logits, 0.5).tolist() == [0, 0, 0]  # >=: a probability equal to the threshold exits
    assert ee.exit_index(logits, 0.0).tolist() == [0, 0, 0]
    assert ee.exit_index(logits, 1.01).tolist() == [1, 1, 1]
    exits, pred = ee.exit_predictions(logits, 0.9)
    assert exits.tolist() == [0, 1, 1] and pred.tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="threshold must be a number >= 0, got -0.1"):
        ee.exit_index(logits, -0.1)
    with pytest.raises(ValueError, match=r"logits must be \[exits, inputs, classes\], got shape \[3, 2\]"):
        ee.exit_index(logits[0], 0.5)


def test_joint_training_is_seeded_and_every_exit_learns(digits, trained):
    model, history = trained
    x, y = digits.splits["train"].tensors
    few = dataclasses.replace(digits, splits={**digits.splits, "train": TensorDataset(x[:128], y[:128])})
    runs = [
        ee.train_exits_(ee.exit_cnn(SHAPE, 10), ee.ExitConfig(epochs=1, seed=3), task=few, progress=False)
        for _ in range(2)
    ]
    assert runs[0].train_loss == runs[1].train_loss and runs[0].val_scores == runs[1].val_scores
    accuracy = ee.exit_accuracies(model, digits, "test")
    assert min(accuracy) > 0.8 and accuracy[-1] > 0.9, accuracy  # four quick epochs: far above chance (10 %)
    assert history.best_val_score == pytest.approx(sum(ee.exit_accuracies(model, digits)) / 3)


def test_the_rule_one_input_at_a_time_and_in_a_batch_agree_with_exit_predictions(digits, trained):
    model, _ = trained
    y, logits = ee.exit_logits(model, digits)
    x = digits.splits["test"].tensors[0]
    for threshold in (0.0, 0.9, 1.01):
        _, pred = ee.exit_predictions(logits, threshold)
        rule = ee.EarlyExit(model, threshold)
        with torch.inference_mode():
            assert torch.equal(rule(x).argmax(1), pred)
            one_by_one = torch.cat([rule(row) for row in x[:40].split(1)]).argmax(1)
        assert torch.equal(one_by_one, pred[:40])


def test_sweep_shares_sum_to_one_and_the_ends_are_exit_0_and_the_full_network(digits, trained, swept):
    model, _ = trained
    report, _ = swept
    assert ee.thresholds_of(report) == ["t=0", "t=0.5", "t=0.9", "t=1.01"]
    assert report.models()[-2:] == ["full network", "w=0.25"]
    for point in ee.thresholds_of(report):
        assert sum(report.value(point, f"exit {k} share") for k in range(3)) == pytest.approx(100)
    assert report.value("t=0", "exit 0 share") == 100  # threshold 0: everyone leaves at the first exit
    assert report.value("t=1.01", "exit 2 share") == 100  # above 1: nobody leaves early
    full = 100 * ll.train.evaluate(model, digits)
    assert report.value("t=1.01", "accuracy") == pytest.approx(full) == report.value("full network", "accuracy")
    assert report.value("t=0", "accuracy") == pytest.approx(100 * ee.exit_accuracies(model, digits, "test")[0])
    low, high = next(r["interval"] for r in report.rows if r["model"] == "t=0.9" and r["metric"] == "accuracy")
    assert low < report.value("t=0.9", "accuracy") < high  # Wilson's interval
    assert all(r["method"] for r in report.rows)
    assert "40 test inputs run one at a time" in next(r["method"] for r in report.rows if r["metric"] == ee.LATENCY)


def test_measured_latency_falls_as_more_inputs_leave_early(swept):
    report, _ = swept
    latency = {p: report.value(p, ee.LATENCY) for p in ee.thresholds_of(report)}
    # exit 0 skips the second convolution (80 % of the multiply-adds) and the hidden layer: several times faster
    assert latency["t=0"] < 0.7 * latency["t=1.01"], latency
    assert latency["t=0"] < 0.7 * report.value("full network", ee.LATENCY)


def test_matched_latency_pairs_each_model_with_a_no_slower_threshold(digits, trained, swept):
    model, _ = trained
    report, others = swept
    (match,) = ee.matched_latency(model, digits, report, others)
    assert match.other == "w=0.25"
    if match.point is None:
        assert "no match" in match.summary
    else:
        assert report.value(match.point, ee.LATENCY) <= report.value("w=0.25", ee.LATENCY)
        assert match.paired.n == 360 and match.paired.verdict in match.summary
        assert match.paired.names == (f"early exit {match.point}", "w=0.25")


def test_bad_configs_and_names_are_refused(digits, trained):
    model, _ = trained
    for field, bad, allowed in [
        ("epochs", 0, "an integer >= 1, or None"),
        ("lr", 0.0, "a learning rate > 0"),
        ("patience", 0, "an integer >= 1"),
    ]:
        with pytest.raises(ValueError, match=f"ExitConfig {field} must be {allowed}.*got {bad}"):
            ee.ExitConfig(**{field: bad})
    with pytest.raises(ValueError, match="weights must be >= 0, not all zero"):
        ee.ExitConfig(weights=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="2 loss weights for 3 exits"):
        ee.train_exits_(ee.exit_cnn(SHAPE, 10), ee.ExitConfig(weights=(1.0, 1.0)), task=digits, progress=False)
    with pytest.raises(ValueError, match="used twice"):
        ee.sweep(model, digits, (0.5,), others={"t=0.5": model})
    with pytest.raises(ValueError, match="one exit per block"):
        ee.ExitNet([torch.nn.Identity()], [])

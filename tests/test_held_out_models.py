"""A held-out check of our own: two models LightLab was not built around, defined here, go through every technique.

Each technique either works (and the result still answers the task) or refuses with a clear "cannot ..." that names
the layer; nothing is rounded, pruned or skipped in silence.
"""

import warnings

import pytest
import torch
from torch import nn

import lightlab as ll


class Block(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return torch.relu(x + self.body(x))


class ResNet(nn.Module):
    """Two residual blocks with BatchNorm: the skip connections tie the channels of the stem and the blocks."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


class RowGRU(nn.Module):
    """Reads a digit row by row: a GRU over 8 steps of 8 pixels, then a Linear on its last state."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(8, 32, batch_first=True)
        self.out = nn.Linear(32, 10)

    def forward(self, x):
        _, h = self.rnn(x.flatten(1, 2))
        return self.out(h[-1])


@pytest.fixture(scope="module", params=[ResNet, RowGRU], ids=["resnet", "gru"])
def trained(request, digits):
    torch.manual_seed(0)
    model = request.param()
    ll.train.fit_(model, digits, epochs=10, lr=1e-2, progress=False)
    return model.eval()


def _answers(model, digits) -> float:
    return ll.train.evaluate(model, digits)


def test_the_held_out_models_learn_the_task(trained, digits):
    assert _answers(trained, digits) > 0.5


@pytest.mark.parametrize(
    "technique",
    ["measure", "prune", "prune structured", "fake int4", "int8 onnxruntime", "int8 torchao", "qat", "distill",
     "compress", "export onnx", "budget"],
)  # fmt: skip
def test_every_technique_works_or_names_what_it_cannot_do(trained, digits, technique, tmp_path):
    gru = isinstance(trained, RowGRU)
    run = {
        "measure": lambda: ll.measure.measure({"m": trained}, digits, batch_sizes=(1,), repeats=2),
        "prune": lambda: ll.prune.prune(trained, ll.prune.PruneConfig(0.5)),
        "prune structured": lambda: ll.prune.prune(trained, ll.prune.PruneConfig(0.5, structured=True), task=digits),
        "fake int4": lambda: ll.quantize.quantize(trained, ll.quantize.QuantConfig(bits=4)),
        "int8 onnxruntime": lambda: ll.quantize.quantize(trained, ll.quantize.QuantConfig("onnxruntime"), task=digits),
        "int8 torchao": lambda: ll.quantize.quantize(trained, ll.quantize.QuantConfig("torchao"), task=digits),
        "qat": lambda: ll.quantize.qat(trained, ll.quantize.QatConfig(epochs=1), task=digits),
        "distill": lambda: ll.distill.distill(
            ll.zoo.mlp(64, 10, hidden=(32,)), ll.distill.DistillConfig(epochs=10), task=digits, teacher=trained
        ),
        "compress": lambda: ll.compress.save_compressed(trained, path=tmp_path / "m.lldc", task=digits),
        "export onnx": lambda: ll.onnx.OnnxModel(ll.onnx.export_onnx(trained, digits.example(1))),
        "budget": lambda: ll.budget.fits(trained, digits.example(1), "MCU (nRF52840)"),
    }[technique]
    refusals = {  # (model kind, technique) -> what the clear error must say
        (True, "prune structured"): r"structured pruning cannot handle layer 'rnn' \(GRU\)",
        (True, "int8 onnxruntime"): r"cannot quantize layer\(s\) 'rnn' \(GRU\).*skip_unsupported=True",
        (True, "int8 torchao"): r"cannot quantize layer\(s\) 'rnn' \(GRU\).*handles nn.Linear only",
        (False, "int8 torchao"): r"cannot quantize layer\(s\) 'stem.0' \(Conv2d\).*use backend='onnxruntime'",
    }
    if (gru, technique) in refusals:
        with pytest.raises(ValueError, match=refusals[gru, technique]):
            run()
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    said = " ".join(str(w.message) for w in caught)
    if gru and technique in ("fake int4", "qat"):  # the GRU's own weights stay float32, and the user is told
        assert "'rnn' (GRU) keep float32 weights" in said
    if technique == "prune":  # half of every Linear/Conv weight is zero (the GRU's own weights are not pruned)
        assert ll.prune.sparsity(result) == pytest.approx(0.5, abs=0.01)
    elif technique == "prune structured":  # half the channels gone, the skip connections kept consistent
        assert ll.measure.count_params(result) < 0.4 * ll.measure.count_params(trained)
        assert result(digits.example(2)).shape == (2, 10)
    elif technique == "distill":
        assert _answers(result, digits) > 0.5
    elif isinstance(result, nn.Module):  # the same model in another form: it still answers as well
        assert _answers(result, digits) >= _answers(trained, digits) - 0.1, technique

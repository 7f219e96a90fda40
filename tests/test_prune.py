import pytest
import torch
import torch.nn.utils.prune as torch_prune
from torch import nn

import lightlab as ll
from lightlab.techniques.prune import IterativePruneConfig, PruneConfig


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


class TinyResNet(nn.Module):
    """A model from outside the zoo: a stem, one residual block (skip connection), global pooling, a head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Conv2d(32, 16, 3, padding=1),
            nn.BatchNorm2d(16),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.block(x))
        return self.head(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("shape", [(7,), (10, 20), (8, 4, 3, 3)])
@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9])
def test_magnitude_mask_matches_torch_l1_unstructured(shape, amount):
    weight = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    mask = ll.prune.magnitude_mask(weight, amount)
    layer = nn.Linear(1, 1)
    layer.weight = nn.Parameter(weight.clone())
    torch_prune.l1_unstructured(layer, "weight", amount=amount)
    assert mask.dtype == torch.bool and torch.equal(mask, layer.weight_mask.bool())
    assert (~mask).sum().item() == round(amount * weight.numel())


def test_global_scope_matches_torch_global_unstructured(large):
    pruned = ll.prune.prune(large, PruneConfig(0.8, scope="global"))
    reference = ll.zoo.pretrained("digits-large")
    layers = [(m, "weight") for m in reference.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    torch_prune.global_unstructured(layers, pruning_method=torch_prune.L1Unstructured, amount=0.8)
    for m, _ in layers:
        torch_prune.remove(m, "weight")
    expected = reference.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in pruned.state_dict().items())


def test_unstructured_pruning_is_permanent_and_leaves_the_input_alone(large, digits):
    layer = ll.prune.prune(large, PruneConfig(0.5, scope="layer"))
    assert all(abs(s - 0.5) < 1e-3 for s in ll.prune.layer_sparsity(layer).values())
    glob = ll.prune.prune(large, PruneConfig(0.9, scope="global"))
    per_layer = ll.prune.layer_sparsity(glob)
    assert abs(ll.prune.sparsity(glob) - 0.9) < 1e-6 and per_layer["0"] < 0.2 < 0.9 < per_layer["6"]
    assert list(glob.state_dict()) == list(large.state_dict())  # no weight_orig / weight_mask left behind
    assert not any(m._forward_pre_hooks for m in glob.modules())
    assert ll.prune.sparsity(large) == 0.0  # the input model is untouched
    assert ll.train.evaluate(layer, digits) >= 0.97 and ll.train.evaluate(glob, digits) >= 0.95
    # Zeros are still stored as dense float32: unstructured pruning alone does not shrink the file.
    assert ll.measure.serialized_size(glob) == ll.measure.serialized_size(large)


def test_structured_pruning_shrinks_the_digits_cnn(large, digits):
    pruned = ll.prune.prune(large, PruneConfig(0.5, structured=True), task=digits)
    convs = [m for m in pruned.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64] and pruned[-1].out_features == 10
    assert ll.measure.count_params(pruned) == 283_786  # from 1,128,714
    assert ll.measure.serialized_size(pruned) < 0.3 * ll.measure.serialized_size(large)
    assert pruned(digits.example(5)).shape == (5, 10)
    tuned = ll.prune.finetune(pruned, task=digits, epochs=3)
    assert ll.train.evaluate(tuned, digits) >= ll.train.evaluate(large, digits) - 0.02


def test_structured_pruning_works_outside_the_zoo(digits):
    mlp = ll.zoo.mlp(64, 10, hidden=(64, 32))
    small = ll.prune.prune(mlp, PruneConfig(0.5, structured=True), example=digits.example(1))
    assert [m.out_features for m in small.modules() if isinstance(m, nn.Linear)] == [32, 16, 10]
    resnet = TinyResNet().eval()
    thin = ll.prune.prune(resnet, PruneConfig(0.5, structured=True), task=digits)
    # The skip connection ties the stem's and the block's last channels: both shrink together.
    assert thin.stem[0].out_channels == thin.block[3].out_channels == 8 and thin.block[0].out_channels == 16
    assert thin(digits.example(4)).shape == (4, 10)
    assert ll.measure.count_params(thin) < 0.35 * ll.measure.count_params(resnet)


def test_structured_pruning_refuses_a_sparsity_a_layer_cannot_reach(large, digits):
    # Torch-Pruning leaves a layer whole when it would keep no channel: 0.99 came back unchanged, silently.
    with pytest.raises(ValueError, match=r"would leave no channel in 1 layer\(s\): '0' \(64 channels: at most 0.984\)"):
        ll.prune.prune(large, PruneConfig(0.99, structured=True), task=digits)
    thin = ll.prune.prune(large, PruneConfig(0.98, structured=True), task=digits)  # every layer keeps one or more
    assert [m.out_channels for m in thin.modules() if isinstance(m, nn.Conv2d)] == [1, 2]


def test_structured_pruning_names_what_it_cannot_handle(digits):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.gain = nn.Linear(64, 32), nn.Parameter(torch.ones(32))

        def forward(self, x):
            return self.fc(x.flatten(1)) * self.gain

    class HardCoded(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(1, 8, 3, padding=1), nn.Linear(512, 10)

        def forward(self, x):
            return self.fc(self.conv(x).view(-1, 512))

    cfg = PruneConfig(0.5, structured=True)
    with pytest.raises(ValueError, match="layer '0' \\(Scaled\\)"):
        ll.prune.prune(nn.Sequential(Scaled(), nn.ReLU(), nn.Linear(32, 10)), cfg, task=digits)
    with pytest.raises(ValueError, match="hard-codes a channel count"):
        ll.prune.prune(HardCoded(), cfg, task=digits)
    with pytest.raises(ValueError, match="pass an example input or a task"):
        ll.prune.prune(ll.zoo.mlp(64, 10), cfg)
    with pytest.raises(ValueError, match="nothing to shrink"):
        ll.prune.prune(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), cfg, example=digits.example(1))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sparsity": 1.0}, ValueError, r"\[0, 1\)"),
        ({"sparsity": -0.1}, ValueError, r"\[0, 1\)"),
        ({"sparsity": "0.5"}, TypeError, "number"),
        ({"scope": "local"}, ValueError, "'layer'.*'global'"),
        ({"exclude": "9"}, TypeError, "tuple of module names"),
    ],
)
def test_bad_config_is_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        PruneConfig(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"final_sparsity": 1.0}, r"final_sparsity must be in \[0, 1\)"),
        ({"final_sparsity": 0.9, "steps": 0}, r"steps must be a whole number >= 1 .*got 0"),
        ({"final_sparsity": 0.9, "epochs_per_step": 1.5}, "epochs_per_step must be None.*got 1.5"),
        ({"final_sparsity": 0.9, "scope": "local"}, "unknown scope 'local'"),
        ({"final_sparsity": 0.9, "lr": 0}, "lr must be a number > 0"),
    ],
)
def test_bad_iterative_config_names_the_field(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IterativePruneConfig(**kwargs)


def test_configs_are_frozen_and_the_default_prunes_half():
    cfg = IterativePruneConfig(0.9, epochs_per_step=None)
    with pytest.raises(AttributeError):
        cfg.steps = 2
    assert cfg.epochs_per_step is None and cfg.n_epochs == 2  # quick mode's default, derived, not written back
    assert ll.prune.sparsity(ll.prune.prune(ll.zoo.mlp(64, 10))) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(TypeError, match="IterativePruneConfig"):
        ll.prune.prune_iteratively(ll.zoo.mlp(64, 10), PruneConfig(0.5), task=None)


def test_a_model_without_prunable_layers_is_refused():
    with pytest.raises(ValueError, match="no layer to prune.*Flatten, ReLU"):
        ll.prune.prune(nn.Sequential(nn.Flatten(), nn.ReLU()), PruneConfig(0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        ll.prune.magnitude_mask(torch.ones(3), 1.5)


def test_finetune_keeps_pruned_weights_at_zero(digits):
    small = ll.zoo.pretrained("digits-small")
    pruned = ll.prune.prune(small, PruneConfig(0.8, scope="global"))
    tuned = ll.prune.finetune(pruned, task=digits, epochs=3)
    zero_before = [m.weight == 0 for m in pruned.modules() if isinstance(m, nn.Linear)]
    zero_after = [m.weight == 0 for m in tuned.modules() if isinstance(m, nn.Linear)]
    assert all(torch.equal(a, b) for a, b in zip(zero_before, zero_after, strict=True))
    assert set(tuned.state_dict()) == set(small.state_dict())  # no parametrization left behind
    assert ll.train.evaluate(tuned, digits) > ll.train.evaluate(pruned, digits)


def test_cubic_schedule_cuts_early_and_ends_at_the_target():
    steps = ll.prune.cubic_schedule(0.0, 0.9, 3)
    assert steps == pytest.approx([0.9 - 0.9 * (2 / 3) ** 3, 0.9 - 0.9 * (1 / 3) ** 3, 0.9])
    gains = [b - a for a, b in zip([0.0, *steps], steps, strict=False)]
    assert gains == sorted(gains, reverse=True)
    with pytest.raises(ValueError, match="final >= initial"):
        ll.prune.cubic_schedule(0.5, 0.2, 3)


def test_prune_iteratively_reaches_the_final_sparsity(digits):
    small = ll.zoo.pretrained("digits-small")
    cfg = IterativePruneConfig(final_sparsity=0.8, steps=3, epochs_per_step=2, lr=1e-2)
    model, report = ll.prune.prune_iteratively(small, cfg, task=digits)
    assert ll.prune.sparsity(model) == pytest.approx(0.8, abs=1e-3)
    assert report.models() == ["step 0", "step 1", "step 2", "step 3"]
    assert report.value("step 3", "sparsity") == pytest.approx(80, abs=0.1)
    assert report.value("step 3", "accuracy") >= 90
    assert all(r["method"] for r in report.rows)


def test_sensitivity_scan_is_tidy(large, digits):
    table = ll.prune.layer_sensitivity(large, task=digits, sparsities=(0.0, 0.5, 0.99))
    assert list(table.columns) == ["layer", "sparsity", "accuracy", "unit", "method"]
    assert len(table) == 4 * 3 and table["method"].str.contains("val split").all()
    at_zero = table[table.sparsity == 0.0].accuracy
    assert at_zero.nunique() == 1 and at_zero.iloc[0] == pytest.approx(100 * ll.train.evaluate(large, digits, "val"))
    assert table[table.sparsity == 0.99].accuracy.min() < at_zero.iloc[0] - 10


def test_speed_comparison_reports_every_variant(digits):
    model = ll.zoo.pretrained("digits-small")
    report = ll.prune.speed_comparison(model, example=digits.example(64), sparsity=0.9, repeats=3)
    assert report.models() == [
        "dense",
        "unstructured 90%, dense kernel",
        "unstructured 90%, CSR kernel",
        "structured 50% of channels",
    ]
    assert all(report.value(m, "latency_p50_b64") > 0 for m in report.models())
    latency = [r for r in report.rows if r["metric"] == "latency_p50_b64"]
    assert all(f"best of {ll.measure.ROUNDS} alternating rounds" in r["method"] for r in latency)
    assert report.value("unstructured 90%, dense kernel", "nonzero_params") < 0.2 * report.value(
        "dense", "nonzero_params"
    )
    assert report.value("unstructured 90%, dense kernel", "size") == report.value("dense", "size")

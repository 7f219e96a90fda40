"""Tests for lightlab.blocks: shapes, residuals, counted cost == closed form, errors, a trainable network."""

import pytest
import torch

import lightlab as ll
from lightlab.models import blocks


@pytest.mark.parametrize("kind", blocks.KINDS)
@pytest.mark.parametrize("stride", [1, 2])
def test_block_output_shape(kind, stride):
    block = blocks.make(kind, 8, 16, kernel=3, stride=stride).eval()
    assert block(torch.randn(2, 8, 9, 9)).shape == (2, 16, 5 if stride == 2 else 9, 9 if stride == 1 else 5)


def test_make_builds_the_named_block():
    assert isinstance(blocks.make("dwsep", 4, 8), blocks.DepthwiseSeparable)
    assert isinstance(blocks.make("inverted_se", 4, 8).se, blocks.SqueezeExcite)
    assert not isinstance(blocks.make("inverted", 4, 8).se, blocks.SqueezeExcite)
    dw = blocks.make("dwsep", 4, 8).depthwise[0]
    assert dw.groups == 4 and dw.weight.shape == (4, 1, 3, 3)  # one 3x3 filter per channel


def test_residual_only_when_shapes_allow():
    assert blocks.InvertedResidual(16, 16).residual
    assert not blocks.InvertedResidual(16, 16, stride=2).residual
    assert not blocks.InvertedResidual(16, 32).residual
    # With the projection zeroed (BatchNorm scale 0), the block is exactly the identity through its skip.
    block = blocks.InvertedResidual(8, 8).eval()
    torch.nn.init.zeros_(block.project[1].weight)
    x = torch.randn(1, 8, 6, 6)
    assert torch.equal(block(x), x)


def test_inverted_residual_ends_linear():
    block = blocks.InvertedResidual(8, 4, stride=2).eval()
    assert not isinstance(block.project[-1], (torch.nn.ReLU, torch.nn.ReLU6))
    assert (block(torch.randn(4, 8, 6, 6)) < 0).any()  # no ReLU after the projection: negatives survive


def test_squeeze_excite_rescales_each_channel_by_a_weight_in_0_1():
    se = blocks.SqueezeExcite(8, reduction=4)
    assert se.down.out_features == 2
    x = torch.rand(3, 8, 5, 5) + 0.1
    ratio = se(x) / x
    assert ratio.min() > 0 and ratio.max() < 1
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio))  # one weight per (image, channel)


@pytest.mark.parametrize("kind", blocks.KINDS)
@pytest.mark.parametrize(
    ("in_ch", "out_ch", "kernel", "stride", "size"), [(16, 16, 3, 1, 8), (16, 32, 5, 2, 9), (3, 7, 1, 1, 4)]
)
def test_counted_params_and_macs_equal_closed_forms(kind, in_ch, out_ch, kernel, stride, size):
    counted = blocks.cost(blocks.make(kind, in_ch, out_ch, kernel, stride), (in_ch, size, size))
    assert counted == blocks.formula(kind, in_ch, out_ch, kernel, stride, size)


def test_closed_forms_are_the_textbook_ones():
    k, cin, cout, pixels = 3, 32, 64, 16 * 16
    assert blocks.formula("conv", cin, cout, k, size=16)["macs"] == k * k * cin * cout * pixels
    assert blocks.formula("dwsep", cin, cout, k, size=16)["macs"] == (k * k * cin + cin * cout) * pixels
    assert blocks.formula("dwsep", cin, cout, k)["params"] == k * k * cin + cin * cout + 2 * (cin + cout)


def test_dwsep_needs_about_k_squared_fewer_macs_for_many_output_channels():
    for kernel in (3, 5):
        conv, dwsep = (blocks.formula(kind, 64, 1024, kernel, size=8)["macs"] for kind in ("conv", "dwsep"))
        # conv / dwsep = 1 / (1/Cout + 1/k^2) -> k^2 when Cout >> k^2
        assert conv / dwsep == pytest.approx(1 / (1 / 1024 + 1 / kernel**2))
        assert conv / dwsep > 0.9 * kernel**2


def test_compare_reports_every_kind_counted_closed_form_and_timed():
    report = blocks.compare_blocks(16, 32, 8, rounds=1, repeats=3)
    assert report.models() == list(blocks.KINDS)  # the conv first: the baseline of report.versus("conv")
    for kind in blocks.KINDS:
        assert report.value(kind, "params") == report.value(kind, "params_formula")
        assert report.value(kind, "macs") == report.value(kind, "macs_formula")
        assert report.value(kind, "latency_p50_b1") > 0
    assert report.ratio("macs", "dwsep", "conv") < 0.2
    assert list(report.versus("conv", ["macs"]).columns[:3]) == ["conv", "dwsep", "dwsep / conv"]
    assert all(r["method"] for r in report.rows)


def test_compare_always_includes_the_baseline():
    before = torch.get_num_threads()
    report = blocks.compare_blocks(8, 8, 4, kinds=("dwsep",), threads=1, rounds=2, repeats=2)
    assert report.models() == ["conv", "dwsep"]
    method = next(r["method"] for r in report.rows if r["metric"] == "latency_p50_b1")
    assert "1 threads" in method and "best of 2 alternating rounds" in method  # measure.interleaved's rule
    assert torch.get_num_threads() == before


def test_cost_leaves_the_block_in_its_mode():
    block = blocks.make("conv", 4, 4)
    blocks.cost(block, (4, 1, 1))  # 1x1 image, batch 1: BatchNorm must be in eval mode to count
    assert block.training


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: blocks.make("mbconv", 4, 4), "unknown block kind 'mbconv'; choose one of conv, dwsep, inverted"),
        (lambda: blocks.make("conv", 4, 4, kernel=4), "kernel must be odd and >= 1.*got 4"),
        (lambda: blocks.make("dwsep", 4, 4, kernel=0), "kernel must be odd"),
        (lambda: blocks.make("inverted", 0, 4), "channels must be >= 1, got in_ch=0"),
        (lambda: blocks.make("dwsep", 4, 4, stride=0), "stride must be >= 1, got 0"),
        (lambda: blocks.InvertedResidual(4, 4, expand=0), "expand must be >= 1"),
        (lambda: blocks.SqueezeExcite(0), "channels and reduction must be >= 1"),
        (lambda: blocks.formula("pool", 4, 4), "unknown block kind 'pool'"),
        (lambda: blocks.cost(blocks.make("conv", 1, 1), (8, 8)), r"in_shape must be \(channels, height, width\)"),
        (lambda: blocks.network((1, 8, 8), 10, "conv", ()), "widths must be a non-empty tuple"),
        (lambda: blocks.network((1, 8, 8), 0, "conv"), "classes must be >= 1"),
        (lambda: blocks.network((1, 8, 8), 10, "resnet"), "unknown block kind 'resnet'"),
        (lambda: blocks.compare_blocks(4, 4, 0), "size, batch and threads must be >= 1, got size=0"),
    ],
)
def test_bad_input_raises_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 25, 25)])
@pytest.mark.parametrize("kind", blocks.KINDS)
def test_network_fits_digits_and_faces_shapes(in_shape, kind):
    net = blocks.network(in_shape, 7, kind, (8, 16, 32)).eval()
    assert net(torch.randn(3, *in_shape)).shape == (3, 7)
    assert net[0][0].groups == 1  # the stem is a standard conv


def test_network_is_seeded():
    a, b = (blocks.network((1, 8, 8), 10, "inverted_se", (8, 16), seed=3) for _ in range(2))
    c = blocks.network((1, 8, 8), 10, "inverted_se", (8, 16), seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert not torch.equal(a[-1].weight, c[-1].weight)


def test_efficient_network_trains_on_digits_with_far_fewer_params():
    task = ll.load("digits")
    conv = blocks.network(task.input_shape, task.num_classes, "conv", (32, 64, 128))
    dwsep = blocks.network(task.input_shape, task.num_classes, "dwsep", (32, 64, 128))
    ll.train.fit_(dwsep, task, lr=1e-2, progress=False)  # quick mode: 6 epochs
    assert ll.train.evaluate(dwsep, task) >= 0.85
    assert ll.measure.count_params(dwsep) <= ll.measure.count_params(conv) / 4


def test_training_is_deterministic():
    task = ll.load("digits")
    accs = []
    for _ in range(2):
        net = blocks.network(task.input_shape, task.num_classes, "inverted", (8, 16), seed=1)
        ll.train.fit_(net, task, epochs=2, seed=1, progress=False)
        accs.append(ll.train.evaluate(net, task))
    assert accs[0] == accs[1]

"""ll.patches: patch-based inference gives the whole model's outputs with a lower peak, at a measured MAC cost."""

import pytest
import torch
from _faces_cnn import faces_cnn
from torch import nn

import lightlab as ll
from lightlab.measurement import arena
from lightlab.models import blocks
from lightlab.techniques import patches
from lightlab.techniques.patches import PatchConfig


@pytest.fixture(scope="module")
def cnn():
    return faces_cnn()


@pytest.fixture(scope="module")
def frame():
    photo = ll.photos.centre_crop(ll.photos.image("astronaut"), 96)
    return ll.photos.to_tensor([photo]).mean(1, keepdim=True)  # a real grey 96 x 96 frame


def test_receptive_rows_walks_back_from_the_last_layer():
    assert patches.receptive_rows([(3, 1)], 4) == 6
    assert patches.receptive_rows([(3, 1), (3, 2)], 4) == 11  # (4 - 1) * 2 + 3 = 9, then 9 + 2
    assert patches.receptive_rows([(3, 2), (3, 1)], 4) == 13  # the other order: 6, then (6 - 1) * 2 + 3
    # The same rule, read off real layers: an interior patch of a conv stack needs exactly that many rows.
    stack = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, stride=2, padding=1))
    (rows, _) = patches.needs(stack, ((10, 14), (10, 14)), (64, 64))
    assert rows[1] - rows[0] == 11


@pytest.mark.parametrize("grid", [1, 2, 3, 5])
def test_patched_outputs_equal_the_whole_forward_pass(cnn, frame, grid):
    patched = patches.patch_based(cnn, PatchConfig(stage=4, grid=grid))
    with torch.no_grad():
        assert (patched(frame) - cnn(frame)).abs().max() < 1e-5
        x = torch.randn(3, 1, 41, 37)  # any size, any batch, a stage that ends before the last block
        other = patches.patch_based(cnn, PatchConfig(stage=3, grid=grid))
        assert (other(x) - cnn(x)).abs().max() < 1e-5


def test_pooling_dilation_stride_and_batchnorm_are_patched_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),  # pads with -inf, not zeros
        nn.AvgPool2d(3, 1, 1),
        nn.Conv2d(4, 4, 5, stride=2, padding=2),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2),
        blocks.DepthwiseSeparable(4, 6),
        nn.Flatten(),
    ).eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        x = torch.randn(2, 2, 37, 41) + 3  # shifted: a max-pool padded with zeros would be wrong at the border
        for grid in (2, 3):
            patched = patches.patch_based(model, PatchConfig(stage=8, grid=grid))
            assert (patched(x) - model(x)).abs().max() < 1e-5


def test_the_input_and_the_model_are_left_alone(cnn):
    model = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(1, 2, 3, padding=1), nn.Flatten())
    x = torch.randn(1, 1, 12, 12)
    before = x.clone()
    patched = patches.patch_based(model, PatchConfig(stage=2, grid=2))
    patched(x)
    assert torch.equal(x, before) and model[0].inplace and not patched.stage[0].inplace
    assert patched.stage[1] is not model[1]


def test_the_regions_tile_the_output_and_read_a_halo(cnn):
    patched = patches.patch_based(cnn, PatchConfig(stage=4, grid=3))
    regions = patched.regions((96, 96))
    covered = torch.zeros(48, 48, dtype=torch.int64)
    for ((r0, r1), (c0, c1)), ((i0, i1), (j0, j1)) in regions:
        covered[r0:r1, c0:c1] += 1
        assert i0 <= 2 * r0 and i1 >= min(96, 2 * r1) and j0 <= 2 * c0 and j1 >= min(96, 2 * c1)
    assert bool((covered == 1).all())  # every output pixel computed by exactly one patch
    # The centre patch: 16 output rows need (16 - 1) * 2 + 3 rows at the stride-2 depthwise conv, + 2 for the
    # first block's 3 x 3 and + 2 for the stem's, and one more 3 x 3 after the stride: 16 -> 18 -> 37 -> 39 -> 41.
    (_, ((i0, i1), _)) = regions[4]
    assert i1 - i0 == patches.receptive_rows([(3, 1), (3, 1), (3, 2), (3, 1)], 16) == 41


def test_compare_measures_a_lower_peak_and_the_halo_cost(cnn, frame):
    report = patches.compare(cnn, frame, stage=4, grids=(2, 3))
    whole, two, three = (report.value(n, "peak_sram") for n in ("whole", "2x2 patches", "3x3 patches"))
    # Whole, int8, in-place: block 1 at 96 x 96 holds 64 + 16 + 16 channels: 864 KB.
    assert whole == pytest.approx(96 * 9216 / 1024)
    assert three < 256 < two < whole / 2  # 3 x 3 patches fit the nRF52840's SRAM
    macs = [report.value(n, "macs") for n in ("whole", "2x2 patches", "3x3 patches")]
    assert macs[0] == ll.measure.count_macs(cnn, frame) and macs[0] < macs[1] < macs[2] < 1.3 * macs[0]
    assert report.value("3x3 patches", "extra_macs") == pytest.approx(100 * (macs[2] / macs[0] - 1))
    assert all(report.value(n, "max_abs_diff") < 1e-5 for n in report.models())
    # The stage's output buffer lives from the first patch to the pooling: the patches' copies write into it.
    g = arena.graph(patches.patch_based(cnn, PatchConfig(4, 2)), frame)
    buffer = next(b for b in arena.buffers(g, 1, True) if b.name.startswith("new_zeros"))
    assert buffer.size == 24 * 48 * 48 and sum(t.startswith("copy") for t in buffer.tensors) == 4


def test_what_cannot_run_by_patches_is_named(cnn):
    with pytest.raises(ValueError, match="stage must be >= 1"):
        PatchConfig(stage=0)
    with pytest.raises(ValueError, match="grid must be >= 1"):
        PatchConfig(grid=0)
    with pytest.raises(ValueError, match="nn.Sequential"):
        patches.patch_based(blocks.InvertedResidual(4, 4), PatchConfig(1))
    with pytest.raises(ValueError, match="stage=7 leaves no layer"):
        patches.patch_based(cnn, PatchConfig(stage=7))
    with pytest.raises(ValueError, match="AdaptiveAvgPool2d cannot run by patches; supported: Conv2d"):
        patches.patch_based(cnn, PatchConfig(stage=6))
    se = nn.Sequential(blocks.InvertedResidual(4, 4, se=True), nn.Flatten())
    with pytest.raises(ValueError, match="squeeze-excite"):
        patches.patch_based(se, PatchConfig(stage=1))
    with pytest.raises(ValueError, match="grid 30 asks for more patches per side"):
        patches.patch_based(cnn, PatchConfig(stage=4, grid=30))(torch.randn(1, 1, 25, 25))

"""Tests for lightlab.techniques.nas_space: the candidates of a space, built layer by layer as stated, deployed."""

import json

import pytest
import torch
from torch import nn

import lightlab as ll
from lightlab.models import blocks
from lightlab.techniques.nas_space import Candidate, Layer, Space, candidates, fold_batchnorm

KWS = (1, 32, 13)  # spoken_digits: 32 frames x 13 MFCCs


def test_the_space_has_the_candidates_counted_by_hand():
    space = Space(kinds=("conv", "dwsep"), depths=(0, 1, 2), widths=(8,), kernels=(3, 5), heads=("pool", "flatten"),
                  hidden=(0, 16))  # fmt: skip
    # per layer 2 kinds x 1 width x 2 kernels = 4 choices; depth 0: 2 MLPs (hidden 0 or 16), nothing to pool;
    # depth 1: 4 x 2 heads x 2 hidden = 16; depth 2: 4 x 4 x 2 x 2 = 64
    cands = candidates(space, KWS)
    assert len(cands) == space.size() == 2 + 16 + 64
    assert len({str(c) for c in cands}) == len(cands)  # every name is distinct
    assert [str(c) for c in cands[:3]] == ["linear", "mlp 16", "conv8k3 pool"]
    assert str(cands[-1]) == "dwsep8k5-dwsep8k5 flatten 16"
    assert Space().size() == 3 + 18 * 6 + 18**2 * 6 == 2055  # the default space: hundreds of candidates


def test_each_layer_is_built_with_its_own_choices():
    cand = Candidate((Layer("conv", 8, 3), Layer("dwsep", 16, 5)), "flatten", 32)
    model = cand.build(KWS, 10, seed=0)
    first, second, flatten, hidden, relu, head = model
    (conv, *_) = first
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (1, 8, (3, 3), (2, 2))
    assert isinstance(second, blocks.DepthwiseSeparable)
    depthwise = second.depthwise[0]
    assert (depthwise.in_channels, depthwise.groups, depthwise.kernel_size, depthwise.stride) == (8, 8, (5, 5), (2, 2))
    assert second.pointwise[0].out_channels == 16
    # 32x13 -> 16x7 -> 8x4 (a stride-2 block rounds up), 16 channels flattened into the hidden layer
    assert isinstance(flatten, nn.Flatten) and (hidden.in_features, hidden.out_features) == (16 * 8 * 4, 32)
    assert isinstance(relu, nn.ReLU) and (head.in_features, head.out_features) == (32, 10)
    assert model.eval()(torch.zeros(2, *KWS)).shape == (2, 10)
    assert str(cand) == "conv8k3-dwsep16k5 flatten 32" and cand.depth == 2 and cand.family == "mixed"
    pooled = Candidate((Layer("inverted", 8, 3),), "pool").build(KWS, 10)
    assert isinstance(pooled[1], nn.AdaptiveAvgPool2d) and pooled[3].in_features == 8


def test_depth_zero_is_the_hand_made_mlp():
    mlp = Candidate(hidden=64).build(KWS, 10)
    small = ll.zoo.pretrained("spoken_digits-small")
    assert [repr(a) for a in mlp] == [repr(b) for b in small]  # Flatten, Linear(416, 64), ReLU, Linear(64, 10)
    assert str(Candidate(hidden=64)) == "mlp 64" and str(Candidate()) == "linear" and Candidate().family == "mlp"


def test_a_candidate_round_trips_through_json():
    cand = Candidate((Layer("inverted", 16, 5), Layer("conv", 8, 3)), "pool", 64)
    params = json.loads(json.dumps(cand.to_params()))
    assert Candidate.from_params(**params) == cand
    assert Candidate.from_params(**Candidate().to_params()) == Candidate()


def test_folding_batchnorm_keeps_the_outputs_and_drops_the_layers():
    model = Candidate((Layer("conv", 8, 3), Layer("inverted", 16, 3)), "pool", 32).build(KWS, 10, seed=1)
    x = ll.load("spoken_digits").example(16)
    model.train()
    model(x)  # running statistics away from their initial 0 and 1, so that folding has something to fold
    model.eval()
    deployed = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in deployed.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the input is left as it was
    with torch.inference_mode():
        assert torch.allclose(deployed(x), model(x), atol=1e-5)
    assert ll.measure.count_params(deployed) < ll.measure.count_params(model)  # 2 per channel -> 1 bias


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"widths": ()}, r"Space widths is empty: give at least one, e.g. Space\(widths="),
        ({"kinds": ("conv", "transformer")}, r"unknown block kinds \['transformer'\]; choose from conv, dwsep"),
        ({"heads": ("max",)}, r"unknown heads \['max'\]; choose from pool, flatten"),
        ({"kernels": (2,)}, r"odd kernels >= 1.*kernels=\(2,\)"),
        ({"hidden": (-1,)}, "hidden >= 0"),
        ({"widths": (8, 8)}, "Space widths repeats a choice"),
    ],
)
def test_bad_spaces_are_refused_when_built(fields, match):
    with pytest.raises(ValueError, match=match):
        Space(**fields)


def test_impossible_candidates_name_the_fix():
    with pytest.raises(ValueError, match="depth 4 is impossible.*at most 3 blocks fit; use depths <= 3"):
        candidates(Space(depths=(1, 4)), (1, 8, 8))
    with pytest.raises(ValueError, match=r"image-like inputs.*Space\(depths=\(0,\)\)"):
        candidates(Space(), (6, 128))
    assert [str(c) for c in candidates(Space(depths=(0,), hidden=(0, 8)), (6, 128))] == ["linear", "mlp 8"]
    with pytest.raises(ValueError, match="nothing to pool"):
        Candidate(head="pool")


def test_outside_names_the_choices_a_space_lacks():
    space = Space(kinds=("conv",), widths=(8,), kernels=(3,))
    assert space.outside(Candidate((Layer("conv", 8, 3),), "pool")) == []
    assert space.outside(Candidate((Layer("dwsep", 16, 3),), "pool", 7)) == ["hidden 7", "kind 'dwsep'", "width 16"]

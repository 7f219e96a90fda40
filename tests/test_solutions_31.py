import pytest
import torch
from _solutions import load as solutions

import lightlab as ll
from lightlab.techniques.grids import Grid, fake_quantize


@pytest.fixture(scope="module")
def sol():
    return solutions("31_quantizing_language_models")


def test_solutions_pass_the_checkers(sol, smollm2):
    assert ll.checks.rtn(sol.rtn).startswith("correct")
    assert ll.checks.rtn(lambda w, b, g: fake_quantize(w, Grid(b, g))).startswith("correct")
    block = smollm2.model.layers[7].mlp.down_proj.weight[3, 64:96].detach()
    assert ll.checks.q4_1_grid(sol.q4_1_grid, block).startswith("correct")
    scale, minimum = sol.q4_1_grid(block)
    codes = (block.double() - minimum) / scale
    assert (codes - codes.round()).abs().max() < 1e-3 and codes.round().min() == 0 and codes.round().max() == 15
    assert ll.checks.smooth(sol.smooth).startswith("correct")


def _rtn(bits_levels=None, symmetric=False, rounding=torch.round, per="group", codes=False):
    def fn(w, bits, group):
        if symmetric:
            return fake_quantize(w, Grid(bits, group, symmetric=True))
        size = {"group": group, "row": w.shape[1], "tensor": w.numel()}[per]
        g = w.reshape(-1, size)
        low = g.amin(-1, keepdim=True)
        scale = (g.amax(-1, keepdim=True) - low) / (bits_levels(bits) if bits_levels else 2**bits - 1)
        q = rounding((g - low) / scale)
        return (q if codes else q * scale + low).reshape(w.shape)

    return fn


def test_typical_rtn_mistakes_get_their_hint():
    mistakes = {
        "SYMMETRIC grid": _rtn(symmetric=True),
        "NEAREST code": _rtn(rounding=torch.floor),
        "steps between them": _rtn(bits_levels=lambda b: 2**b),
        "one grid for the whole matrix": _rtn(per="tensor"),
        "one grid per row": _rtn(per="row"),
        "you return them": _rtn(codes=True),
        "must `return`": lambda w, b, g: None,
        "same shape": lambda w, b, g: w[0],
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.rtn(wrong)


def test_typical_q4_1_and_smooth_mistakes_get_their_hint():
    mistakes = {
        "15 steps": lambda b: (float(b.max() - b.min()) / 16, float(b.min())),
        "not symmetric": lambda b: (float(b.abs().max()) / 7, -8 * float(b.abs().max()) / 7),
        "order \\(scale, minimum\\)": lambda b: (float(b.min()), float(b.max() - b.min()) / 15),
        "smallest weight of the block": lambda b: (float(b.max() - b.min()) / 15, float(b.mean())),
        "return scale, minimum": lambda b: float(b.min()),
    }
    for hint, wrong in mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.q4_1_grid(wrong)
    smooth_mistakes = {
        "raise x_max to alpha": lambda x, w, a: x ** (1 - a) / w**a,
        "DIVIDED by s": lambda x, w, a: w ** (1 - a) / x**a,
        "do not multiply": lambda x, w, a: x**a * w ** (1 - a),
        "one scale per channel": lambda x, w, a: None,
    }
    for hint, wrong in smooth_mistakes.items():
        with pytest.raises(ll.checks.CheckFailed, match=hint):
            ll.checks.smooth(wrong)


def test_exercise_4_the_fp32_table_costs_bytes_and_saves_perplexity(sol, smollm2, smol_text, smol_tokenizer):
    ladder = sol.table_cost(smollm2, smol_text, torch.tensor([smol_tokenizer("def add(a, b):")["input_ids"]]))
    int8, fp32 = "int4 g32 asym rtn", "int4 g32 asym rtn fp32 table"
    assert ladder.value(fp32, "perplexity") < ladder.value(int8, "perplexity")
    assert ladder.value(fp32, "file_size") > ladder.value(int8, "file_size") + 80e6  # 49152 x 576 x 3 bytes more

"""views.lmquant: the ladder (built, measured, deleted), the kernel table, the Pareto chart and the grid explorer, on
a tiny seeded Llama (the real SmolLM2 runs in the notebook)."""

import pytest
import torch
from _figures import problems

from lightlab.face.views import lmquant as views
from lightlab.techniques.grids import Grid
from lightlab.techniques.lmquant import LINEARS, LMQuantConfig, W8A8Config, quantize_lm, w8a8

TEXT = torch.randint(0, 256, (1, 48), generator=torch.Generator().manual_seed(1))
PROMPT = torch.tensor([[5, 17, 42, 7, 9, 3]])
CALIBRATION = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(2))


@pytest.fixture(scope="module")
def ladder(tiny_llama):
    lad = views.Ladder(tiny_llama, TEXT, PROMPT, new_tokens=4, rounds=1)
    lad.run([LMQuantConfig(Grid(8, "channel", symmetric=True)), LMQuantConfig(Grid(4, 32)), LMQuantConfig(Grid(3, 32))])
    lad.run([LMQuantConfig(Grid(3, 32), "gptq"), W8A8Config(alpha=0.5)], CALIBRATION)
    return lad


def test_names_say_grid_method_and_table():
    assert views.step_name(LMQuantConfig(Grid(4, 32))) == "int4 g32 asym rtn"
    assert views.step_name(LMQuantConfig(Grid(4, 32), embedding="fp32")) == "int4 g32 asym rtn fp32 table"
    assert views.step_name(W8A8Config(alpha=None, per_token=True)) == "w8a8 per-token naive"
    assert views.step_name(W8A8Config(alpha=0.7)) == "w8a8 per-tensor smooth α=0.7"
    assert views.family(W8A8Config()) == "W8A8" and views.family(LMQuantConfig(method="awq")).endswith("AWQ")


def test_ladder_measures_each_variant_against_fp32_and_keeps_none(ladder, tiny_llama):
    table = ladder.table()
    assert list(table.index) == [
        "fp32",
        "int8 per-channel sym rtn",
        "int4 g32 asym rtn",
        "int3 g32 asym rtn",
        "int3 g32 asym gptq",
        "w8a8 per-tensor smooth α=0.5",
    ]
    assert list(table.columns) == ["file", "bit-packed", "perplexity", "decode", "decode vs fp32", "built in", "kernel"]
    assert ladder.kernels["fp32"] == "fp32" and ladder.kernels["int4 g32 asym rtn"] == "int4pack"
    assert (
        ladder.kernels["int8 per-channel sym rtn"] == "int8pack" and ladder.kernels["int3 g32 asym gptq"] == "int4pack"
    )
    assert ladder.kernels["w8a8 per-tensor smooth α=0.5"] == "int_mm"
    assert ladder.value("int4 g32 asym rtn", "file_size") < ladder.value("fp32", "file_size") / 2
    # int3 is stored in the int4 kernel's nibbles: the same file, a smaller exact packing
    assert ladder.value("int3 g32 asym rtn", "file_size") == ladder.value("int4 g32 asym rtn", "file_size")
    assert ladder.value("int3 g32 asym rtn", "bit_packed_size") < ladder.value("int4 g32 asym rtn", "bit_packed_size")
    assert ladder.value("int4 g32 asym rtn", "decode_speedup") > 0 and ladder.value("fp32", "perplexity") > 1
    rows = [r for r in ladder.report.rows if r["metric"] == "decode_tokens_per_s"]
    assert views.method_of(ladder.report, "decode_tokens_per_s") == rows[0]["method"]
    assert all(r["method"].endswith("(in turns with fp32)") for r in rows[1:]) and rows[0]["model"] == "fp32"
    assert all(isinstance(tiny_llama.model.layers[0].get_submodule(n), torch.nn.Linear) for n in LINEARS)


def test_build_shares_one_int8_table_and_gives_lmquants_model(ladder, tiny_llama):
    for cfg, build in ((LMQuantConfig(Grid(4, 32)), quantize_lm), (W8A8Config(alpha=0.5), w8a8)):
        shared, own = ladder.build(cfg, CALIBRATION), build(tiny_llama, cfg, CALIBRATION)
        assert torch.equal(shared(PROMPT).logits, own(PROMPT).logits)
        assert shared.model.embed_tokens is ladder._table[0] and shared.lm_head is ladder._table[1]
    fp32_table = ladder.build(LMQuantConfig(Grid(4, 32), embedding="fp32"))
    assert fp32_table.model.embed_tokens.weight.dtype == torch.float32


def test_a_measured_step_is_not_built_again(ladder, monkeypatch):
    monkeypatch.setattr(views, "quantize_lm", lambda *a, **k: pytest.fail("built again"))
    table = ladder.run([LMQuantConfig(Grid(4, 32))])
    assert list(table.index) == ["fp32", "int4 g32 asym rtn"]


def test_pareto_draws_one_point_per_variant_and_each_panels_front(ladder):
    fig = views.plot_pareto(ladder)
    families = ["fp32", "weight-only, RTN", "weight-only, GPTQ or AWQ", "W8A8"]
    assert [t.name for t in fig.data] == [f for f in families for _ in range(2)] + ["Pareto front"] * 2
    assert sum(len(t.x) for t in fig.data[:-2]) == 2 * len(ladder.configs)
    assert fig.data[0].marker.symbol == "star" and problems(fig.to_plotly_json()) == []
    size_front, points = fig.data[-2], [(x, y) for t in fig.data[:-2:2] for x, y in zip(t.x, t.y, strict=True)]
    assert list(size_front.x) == sorted(size_front.x) and list(size_front.y) == sorted(size_front.y, reverse=True)
    # every variant off the front is beaten by a front point on both size and perplexity
    front = list(zip(size_front.x, size_front.y, strict=True))
    assert all(any(fx <= x and fy <= y for fx, fy in front) for x, y in points)
    ratio = {n: ladder.value(n, "perplexity") / ladder.value("fp32", "perplexity") for n in ladder.configs}
    worst = max(ratio, key=ratio.get)
    strict = views.plot_pareto(ladder, worst=0.999 * ratio[worst])  # the worst variant is named, not drawn
    assert sum(len(t.x) for t in strict.data[:-2]) == 2 * (len(ladder.configs) - 1)
    assert "not drawn, perplexity over" in strict.layout.annotations[-1].text
    assert worst in strict.layout.annotations[-1].text and problems(strict.to_plotly_json()) == []


def test_front_keeps_only_points_nothing_beats():
    points = [(1.0, 50.0, "a"), (2.0, 30.0, "b"), (3.0, 40.0, "c"), (4.0, 10.0, "d")]
    assert [p[2] for p in views._front(points, larger_x_better=False)] == ["a", "b", "d"]
    assert [p[2] for p in views._front(points, larger_x_better=True)] == ["d"]


def test_kernel_table_says_which_grids_have_a_fast_kernel():
    df = views.kernel_table([Grid(8, "channel", symmetric=True), Grid(6, 32), Grid(4, 16), Grid(3, 32)])
    assert list(df.kernel) == ["int8pack", "dequantize", "dequantize", "int4pack"]


def test_grid_explorer_precomputes_once_then_only_looks_up(tiny_llama, monkeypatch):
    lad = views.Ladder(tiny_llama, TEXT, PROMPT, new_tokens=3, rounds=1)
    built = []
    real = views.quantize_lm
    monkeypatch.setattr(views, "quantize_lm", lambda m, cfg, cal=None: built.append(cfg) or real(m, cfg, cal))
    explorer = views.GridExplorer(lad, bits=(3, 4), groups=(32, "channel"), symmetric=(False, True))
    assert len(built) == 8 and len(lad.configs) == 9
    first = explorer.run()
    assert first["name"] == "int4 g32 asym rtn" and first["kernel"] == "int4pack"
    explorer.group.value = "channel"
    assert explorer.result["name"] == "int4 per-channel asym rtn"
    explorer.symmetric.value = True
    explorer.bits.value = 3
    assert explorer.result["name"] == "int3 per-channel sym rtn"
    assert explorer.result["perplexity"] == lad.value("int3 per-channel sym rtn", "perplexity")
    assert "int3 per-channel sym rtn: perplexity" in explorer.summary.value and len(built) == 8
    assert problems(explorer.figure("int3 per-channel sym rtn").to_plotly_json()) == []
    one = views.GridExplorer(lad, bits=(4,), groups=(32,), symmetric=(False,))
    assert one.symmetric.disabled and len(built) == 8

"""ll.views.arena: live bytes, the arena's boxes, the order histogram, the patch figures, the arena explorer."""

import pytest
import torch
from _faces_cnn import faces_cnn
from _figures import problems

import lightlab as ll
from lightlab.face.views import arena as views
from lightlab.measurement import arena
from lightlab.techniques.patches import PatchConfig

NRF = ll.budget.DEVICE_BUDGETS["MCU (nRF52840)"]


@pytest.fixture(scope="module")
def cnn():
    return faces_cnn()


@pytest.fixture(scope="module")
def g(cnn):
    return arena.graph(cnn, torch.randn(1, 1, 25, 25))


def test_live_draws_one_line_per_variant_with_its_peak_ringed(g):
    fig = views.live({"fp32": (g, 4, False), "int8, in-place": (g, 1, True)}, device=NRF)
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["fp32", "int8, in-place"]
    assert max(lines[0].y) == pytest.approx(arena.peak_bytes(g) / 1024)
    rings = [t for t in fig.data if t.mode == "markers"]
    assert [r.y[0] for r in rings] == [max(line.y) for line in lines]
    assert "256 KB SRAM" in fig.layout.annotations[0].text and "(KB)" in fig.layout.title.text
    assert problems(fig.to_plotly_json()) == []


def test_boxes_draw_every_buffer_at_its_address(g):
    plan = arena.plan(g, itemsize=1)
    fig = views.boxes(plan)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == len(plan.buffers)
    top = max(r.y1 for r in rects)
    assert top == pytest.approx(plan.arena_bytes / 1024) and min(r.y0 for r in rects) == 0
    assert "(greedy planner)" in fig.layout.title.text and "addresses in KB" in fig.layout.title.text
    assert "(KB)" in fig.layout.yaxis.title.text
    assert [a.text.split(":")[0] for a in fig.layout.annotations] == ["peak alive", "arena"]
    assert problems(fig.to_plotly_json()) == []


def test_order_peaks_marks_the_written_and_the_best_order():
    g = arena.from_dicts(["x", "a", "b", "c", "cat"], {"x": 1600, "a": 400, "b": 1600, "c": 400, "cat": 800},
                         {"x": ["a", "b"], "a": ["cat"], "b": ["c"], "c": ["cat"], "cat": []})  # fmt: skip
    search = arena.order_search(g)
    fig = views.order_peaks(g, search)
    assert sum(len(t.x) for t in fig.data) == len(search) == 3
    assert [a.text.split(":")[0] for a in fig.layout.annotations] == ["as written", "best"]
    assert "3 execution orders" in fig.layout.title.text and problems(fig.to_plotly_json()) == []


def test_patch_figures(cnn):
    frame = torch.randn(1, 1, 48, 48)
    report = ll.patches.compare(cnn, frame, stage=4, grids=(2,))
    fig = views.patch_tradeoff(report, device=NRF)
    assert list(fig.data[0].text) == ["whole", "2x2 patches"] and fig.data[0].y[1] < fig.data[0].y[0]
    assert problems(fig.to_plotly_json()) == []
    patched = ll.patches.patch_based(cnn, PatchConfig(stage=4, grid=3))
    fig = views.patch_regions(frame[0, 0], patched)
    assert len(fig.layout.shapes) == 9 and fig.data[0].showscale is False
    assert problems(fig.to_plotly_json()) == []


def test_explorer_replans_on_every_control(g):
    explorer = views.ArenaExplorer({"cnn": g, "tiny": arena.from_dicts(["a", "b"], {"a": 1, "b": 2},
                                                                      {"a": ["b"], "b": []})}, device=NRF)  # fmt: skip
    explorer.run()
    assert explorer.result.peak_bytes == arena.peak_bytes(g, 4) and "does NOT fit" in explorer.summary.value
    explorer.precision.value = 1
    assert explorer.result.arena_bytes == arena.plan(g, 1).arena_bytes and "fits the 256 KB" in explorer.summary.value
    explorer.inplace.value = True
    assert explorer.result.peak_bytes == arena.peak_bytes(g, 1, inplace=True)
    explorer.method.value = "linear"
    assert explorer.result.method == "linear" and explorer.result.arena_bytes > 2 * explorer.result.peak_bytes
    explorer.graph.value = "tiny"
    assert explorer.result.steps == ("a", "b")
    rows = explorer.widget.children
    assert rows[0].children == (explorer.graph, explorer.method) and rows[-1] is explorer.output

"""Tests for lightlab.face.views.blocks: the explorer reruns compare_blocks from its controls."""

from lightlab.face.views import blocks as views
from lightlab.models import blocks


def test_block_explorer_reruns_compare_on_control_change():
    explorer = views.BlockExplorer(kind="dwsep", width=8, kernel=3, size=4)
    report = explorer.run()
    assert report.models() == ["conv", "dwsep"]
    explorer.kind.value = "inverted"
    assert explorer.result.models() == ["conv", "inverted"]
    explorer.width.value = 16
    assert explorer.result.value("conv", "params") == blocks.formula("conv", 16, 16)["params"]
    summary = explorer.summary.value
    assert "inverted vs conv, 16 channels" in summary and "(measured in turns)" in summary
    # the latency ratio is Report.versus's: a number, or "not measurable now" when other programs disturbed it
    assert "×" in summary.split("latency")[1] or "not measurable now (disturbed)" in summary
    assert explorer.kind.style.description_width == "initial"  # labels never cut off

"""The face of the efficient blocks: ``BlockExplorer`` compares one block kind with the standard conv live."""

from __future__ import annotations

import ipywidgets as w

from lightlab.face import plots
from lightlab.face.widgets import FULL_LABEL, Explorer
from lightlab.measurement.report import Report
from lightlab.models.blocks import KINDS, compare_blocks


class BlockExplorer(Explorer):
    """Compare one block kind with the standard conv live: kind, width, kernel and input size rerun
    ``compare_blocks``."""

    def __init__(self, kind: str = "dwsep", width: int = 64, kernel: int = 3, size: int = 16):
        wide = w.Layout(width="320px")
        self.kind = w.Dropdown(
            options=[k for k in KINDS if k != "conv"], value=kind, description="block", style=FULL_LABEL
        )
        self.width = w.SelectionSlider(
            options=[8, 16, 32, 64, 128, 256], value=width, description="channels", style=FULL_LABEL, layout=wide
        )
        self.kernel = w.SelectionSlider(
            options=[1, 3, 5, 7], value=kernel, description="kernel", style=FULL_LABEL, layout=wide
        )
        self.size = w.SelectionSlider(
            options=[4, 8, 16, 32, 64], value=size, description="input size", style=FULL_LABEL, layout=wide
        )
        self.result: Report | None = None
        self.layout((self.kind, self.width), (self.kernel, self.size))

    def run(self) -> Report:
        """Measure the chosen block against the standard conv (in = out = width channels), redraw, return the Report."""
        kind, width = self.kind.value, self.width.value
        report = compare_blocks(width, width, self.size.value, self.kernel.value, kinds=(kind,))
        self.result = report
        latency = next(r["metric"] for r in report.rows if r["metric"].startswith("latency_p50"))
        self.redraw(plots.report_bars(report, ["params", "macs", latency], log=False))
        ratios = report.versus("conv", ["macs", latency])[f"{kind} / conv"]
        self.summary.value = (
            f"{kind} vs conv, {width} channels, {self.kernel.value}x{self.kernel.value} kernel, "
            f"{self.size.value}x{self.size.value} input: MACs {kind} / conv = {ratios.iloc[0]} (counted), "
            f"latency {kind} / conv = {ratios.iloc[1]} (measured in turns)"
        )
        return report

"""Explorers: small objects that hold their controls and their latest result.

Each control calls the same public functions a learner could call by hand (``measure.measure``), so tests
drive an explorer by setting ``explorer.batch.value`` and reading ``explorer.result``, no browser needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import ipywidgets as w
import torch
from IPython.display import clear_output, display
from torch import nn

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.face import plots
from lightlab.measurement import energy, measure
from lightlab.measurement.report import Report

FULL_LABEL = {"description_width": "initial"}  # a control's whole description, never cut to the default 80 px

COUNTRIES = {
    "France": "FRA",
    "Norway": "NOR",
    "Germany": "DEU",
    "United States": "USA",
    "China": "CHN",
    "India": "IND",
    "Australia": "AUS",
}


def slider(kind: type[w.ValueWidget], description: str, value: float, low: float, high: float, step=None, **extra):
    """Return a ``kind`` slider (IntSlider, FloatSlider, FloatLogSlider...) with its whole label shown, ``width``
    pixels wide (default 420) so that a fine step is still a few pixels, rerunning only when the handle is released.

    ``readout`` sets the number format; other keywords go to the widget.
    """
    if step is not None:
        extra["step"] = step
    if "readout" in extra:
        extra["readout_format"] = extra.pop("readout")
    extra.setdefault("continuous_update", False)
    layout = w.Layout(width=f"{extra.pop('width', 420)}px")
    return kind(value=value, min=low, max=high, description=description, style=FULL_LABEL, layout=layout, **extra)


class Explorer:
    """What every explorer shares: show its widget (measuring once first) and redraw its output area."""

    output: w.Output
    widget: w.Widget
    result: object | None = None

    def run(self) -> object:
        """Measure with the current control values, redraw, and return the result (each explorer defines it)."""
        raise NotImplementedError

    def layout(self, *rows: w.Widget | Sequence[w.Widget], summary: str | None = "text") -> None:
        """Lay out ``rows`` of controls (a tuple is one row), a summary line and the output area, and rerun ``run``
        whenever a control's value changes: the wiring every explorer shares.

        ``summary`` is "text" (a Label), "html" (for a summary with line breaks or bold) or None.
        """
        self.output = w.Output()
        self.summary = w.HTML() if summary == "html" else w.Label()
        boxes, controls = [], []
        for row in rows:
            items = list(row) if isinstance(row, list | tuple) else [row]
            controls += [c for c in items if isinstance(c, w.ValueWidget)]
            boxes.append(w.HBox(items) if len(items) > 1 else items[0])
        for control in controls:
            control.observe(lambda _change: self.run(), names="value")
        self.widget = w.VBox([*boxes, *([self.summary] if summary else []), self.output])

    def redraw(self, *figures) -> None:
        """Replace what the output area shows with ``figures``."""
        with self.output:
            clear_output(wait=True)
            for figure in figures:
                display(figure)

    def _ipython_display_(self) -> None:
        if self.result is None:
            self.run()
        display(self.widget)


class BenchExplorer(Explorer):
    """Compare models live: batch size, threads, grid country and CodeCarbon on/off rerun ``measure``."""

    def __init__(self, models: dict[str, nn.Module], task: Task, batch_sizes: tuple[int, ...] = (1, 8, 64, 256)):
        self.models, self.task = models, task
        self.batch = w.SelectionSlider(options=list(batch_sizes), value=batch_sizes[0], description="batch size")
        self.threads = w.IntSlider(value=torch.get_num_threads(), min=1, max=os.cpu_count() or 1, description="threads")
        self.country = w.Dropdown(options=COUNTRIES, value="FRA", description="grid")
        self.energy = w.Checkbox(
            value=False,
            description="measure energy (CodeCarbon, a few seconds)",
            style=FULL_LABEL,
            layout=w.Layout(width="auto"),
        )
        self.result: Report | None = None
        self.runs = 0
        self.layout((self.batch, self.threads), (self.country, self.energy))

    def run(self) -> Report:
        """Measure every model with the current settings, redraw the chart and return the Report."""
        b = self.batch.value
        with config.using_threads(self.threads.value):
            report = measure.measure(
                self.models, self.task, batch_sizes=(b,), energy=self.energy.value, country=self.country.value
            )
        for name in self.models:
            if not self.energy.value:
                joules = report.value(name, "energy_modelled_per_inference")
                report.add(
                    name,
                    "co2e_per_inference",
                    energy.co2e_grams(joules, self.country.value),
                    "g CO2e",
                    f"modelled energy x {self.country.value} grid intensity (CodeCarbon offline data)",
                )
            report.add(
                name,
                "latency_per_sample",
                report.value(name, f"latency_p50_b{b}") / b,
                "ms",
                f"p50 latency at batch {b} / {b}",
            )
        self.result, self.runs = report, self.runs + 1
        metrics = [
            "latency_per_sample",
            f"throughput_b{b}",
            "energy_per_inference",
            "energy_modelled_per_inference",
            "co2e_per_inference",
        ]
        self.redraw(plots.report_bars(report, metrics))
        self.summary.value = self.describe(report)  # last, so a changed sentence means the chart is redrawn too
        return report

    def describe(self, report: Report) -> str:
        """Return one sentence comparing the first and last model at the current settings."""
        big, small = list(self.models)[0], list(self.models)[-1]
        b = self.batch.value
        speed = report.ratio(f"latency_p50_b{b}", big, small)
        busy = bool(report.disturbed())
        return (
            f"batch {b}, {self.threads.value} thread(s): {small} is {speed:.0f}x faster than {big} "
            f"({report.value(small, 'latency_per_sample'):.4f} vs "
            f"{report.value(big, 'latency_per_sample'):.4f} ms per sample)"
            + (" — other programs were busy: these timings are disturbed" if busy else "")
        )

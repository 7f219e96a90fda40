"""Check plotly figures as JSON, no pixels: axis ranges near the data, nothing drawn over anything else.

Each check encodes a figure bug seen in JupyterLab (headless Chromium) and missed by every other test:
- ``annotation_text`` on a log axis: plotly reads the label's position as a power of ten, so the axis runs to 10^102;
- a colorbar over the legend (both sit at the right edge by default);
- subplot titles wider than their column, running into each other;
- a horizontal legend put just under the plot, over the x-axis ticks and title;
- raw metric names (``latency_p50_b1``) where a reader expects words.
"""

from __future__ import annotations

import base64
import math
import re

import numpy as np

DECADES = 3  # how far past its data an axis (or a label on it) may reach, in powers of ten
DEFAULT_WIDTH_PX = 800  # JupyterLab's output width when a figure sets none
CHAR_PX = 0.55  # average character width as a share of the font size
# A Report's metric names (latency_p50_b1, energy_per_inference...) and plotly express' default facet labels;
# field terms such as zero_point are fine.
RAW_NAME = re.compile(
    r"\b(?:latency|energy|throughput|co2e|peak|compute|nonzero|macs|params|val|test)_[a-z0-9_]+\b"
    r"|\b[a-z0-9]+_per_[a-z0-9_]+\b|\bfacet_(?:col|row)="
)
# Trace types that appear in a legend unless told otherwise.
LEGEND_TYPES = {None, "scatter", "scattergl", "bar", "box", "violin", "histogram", "funnel", "waterfall"}


def _values(array) -> np.ndarray:
    """Return a trace's x or y as floats (NaN for text), decoding plotly's base64 'bdata' arrays."""
    if array is None:
        return np.array([])
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).astype(float)
    out = []
    for v in np.ravel(np.array(array, dtype=object)):
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(math.nan)
    return np.array(out, dtype=float)


def _axis_key(ref: str) -> str:
    """'y2' -> 'yaxis2'; 'x' -> 'xaxis'."""
    return f"{ref[0]}axis{ref[1:]}"


def _data_per_axis(fig: dict) -> dict[str, np.ndarray]:
    found: dict[str, list[np.ndarray]] = {}
    for trace in fig.get("data", []):
        for letter in "xy":
            key = _axis_key(trace.get(f"{letter}axis", letter))
            found.setdefault(key, []).append(_values(trace.get(letter)))
    return {k: np.concatenate(v) if v else np.array([]) for k, v in found.items()}


def _log_range_problems(fig: dict) -> list[str]:
    layout, problems = fig.get("layout", {}), []
    data = _data_per_axis(fig)
    for key, axis in layout.items():
        if not re.fullmatch(r"[xy]axis\d*", key) or axis.get("type") != "log":
            continue
        positive = data.get(key, np.array([]))
        positive = positive[np.isfinite(positive) & (positive > 0)]
        if not len(positive):
            continue
        lo, hi = math.log10(positive.min()) - DECADES, math.log10(positive.max()) + DECADES
        ref = key[0] + key[5:]  # 'yaxis2' -> 'y2'
        for note in layout.get("annotations", []):
            c = note.get(key[0])
            if note.get(f"{key[0]}ref") == ref and isinstance(c, int | float) and not lo <= c <= hi:
                problems.append(
                    f"annotation {note.get('text', '')!r} sits at 10^{c:.3g} on log axis {key} "
                    f"(data 10^{lo + DECADES:.1f}..10^{hi - DECADES:.1f}): give log10 coordinates, "
                    "or use no annotation_text on a log axis"
                )
        if "range" in axis and axis["range"] and None not in axis["range"]:
            a, b = sorted(axis["range"])
            if a < lo or b > hi:
                problems.append(f"log axis {key} range 10^{a:.3g}..10^{b:.3g} is far from its data")
    return problems


def _legend_shown(fig: dict) -> bool:
    layout = fig.get("layout", {})
    if layout.get("showlegend") is not None:
        return bool(layout["showlegend"])
    shown = [t for t in fig.get("data", []) if t.get("type") in LEGEND_TYPES and t.get("showlegend") is not False]
    return len(shown) >= 2


def _colorbar_shown(fig: dict) -> bool:
    for t in fig.get("data", []):
        if t.get("type") in ("heatmap", "contour", "histogram2d") and t.get("showscale", True) is not False:
            return True
        if (t.get("marker") or {}).get("showscale"):
            return True
    return False


def _overlap_problems(fig: dict) -> list[str]:
    layout, problems = fig.get("layout", {}), []
    legend = layout.get("legend", {})
    horizontal = legend.get("orientation") == "h"
    if _legend_shown(fig) and _colorbar_shown(fig) and not horizontal and "x" not in legend:
        problems.append("a colorbar and a vertical legend share the right edge: put the legend above or below")
    titled = any(
        (axis.get("title") or {}).get("text") for key, axis in layout.items() if re.fullmatch(r"xaxis\d*", key)
    )
    if _legend_shown(fig) and horizontal and -0.35 < legend.get("y", 1.02) < 0 and titled:
        problems.append(f"a horizontal legend at y={legend['y']} lies over the x-axis ticks and title")
    width = (layout.get("width") or DEFAULT_WIDTH_PX) - sum((layout.get("margin") or {}).get(k, 80) for k in "lr")
    titles = [a for a in layout.get("annotations", []) if a.get("xref") == "paper" and a.get("yanchor") == "bottom"]
    for i, a in enumerate(titles):
        for b in titles[i + 1 :]:
            if abs(a.get("y", 0) - b.get("y", 0)) > 0.05:
                continue  # another row
            size = lambda t: CHAR_PX * 16 * max(len(line) for line in str(t.get("text", "")).split("<br>"))  # noqa: E731
            if abs(a.get("x", 0) - b.get("x", 0)) * width < (size(a) + size(b)) / 2:
                problems.append(f"subplot titles {a.get('text')!r} and {b.get('text')!r} run into each other")
    return problems


def _raw_name_problems(fig: dict) -> list[str]:
    layout = fig.get("layout", {})
    texts = [(layout.get("title") or {}).get("text")]
    texts += [
        (axis.get("title") or {}).get("text") for key, axis in layout.items() if re.fullmatch(r"[xy]axis\d*", key)
    ]
    texts += [a.get("text") for a in layout.get("annotations", []) if a.get("yanchor") == "bottom"]
    return [f"raw metric name in {t!r}: use words and a unit" for t in texts if t and RAW_NAME.search(str(t))]


def problems(fig: dict) -> list[str]:
    """Return what is wrong with one plotly figure (its JSON dict), each as a sentence; [] when nothing is."""
    return _log_range_problems(fig) + _overlap_problems(fig) + _raw_name_problems(fig)


def notebook_figures(nb) -> list[tuple[str, dict]]:
    """Return (where, figure) for every plotly figure an executed notebook shows, in cells and in widget outputs."""
    mime = "application/vnd.plotly.v1+json"
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if mime in out.get("data", {}):
                found.append((f"cell {i}", out["data"][mime]))
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for model_id, model in state.items():
        for out in model.get("state", {}).get("outputs", []) or []:
            if mime in out.get("data", {}):
                found.append((f"widget {model_id[:8]}", out["data"][mime]))
    return found

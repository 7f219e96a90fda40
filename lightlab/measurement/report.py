"""``Report``: tidy measurement rows ``{model, metric, value, unit, method}`` plus the environment."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from lightlab import config
from lightlab.measurement.units import human, readable

COLUMNS = ["model", "metric", "value", "unit", "method", "spread", "note", "interval"]


def _writable(path: str | Path) -> Path:
    """Return ``path`` with its folder created, or raise if it names a folder."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'report.csv'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class Report:
    """A thin wrapper over measurement rows: a readable ``table``, a before/after ``versus``, and exports."""

    def __init__(self, rows: list[dict] | None = None, environment: dict | None = None):
        self.rows = list(rows or [])
        self.environment = dict(environment or {})

    def add(
        self,
        model: str,
        metric: str,
        value: float,
        unit: str,
        method: str,
        spread: float | None = None,
        note: str | None = None,
        interval: tuple[float, float] | None = None,
    ) -> Report:
        """Append one row (a method is required: no number without its provenance) and return self.

        ``interval``: the value's 95 % confidence interval (``ll.stats``), shown beside it in ``table``."""
        if not method:
            raise ValueError(f"row {model}/{metric} has no method: say how the number was obtained")
        row = {"model": model, "metric": metric, "value": float(value), "unit": unit, "method": method}
        if spread is not None:
            row["spread"] = float(spread)
        if note:
            row["note"] = note
        if interval is not None:
            row["interval"] = [float(interval[0]), float(interval[1])]
        self.rows.append(row)
        return self

    def extend(self, rows: Iterable[dict]) -> Report:
        """Add each row dict (as energy and sweeps return them) through ``add``, so every row has the one schema."""
        for r in rows:
            self.add(
                r["model"], r["metric"], r["value"], r["unit"], r["method"], r.get("spread"), r.get("note"),
                r.get("interval"),
            )  # fmt: skip
        return self

    def __add__(self, other: Report) -> Report:
        return Report(self.rows + other.rows, {**other.environment, **self.environment})

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"Report({len(self.rows)} rows, models={self.models()})"

    def models(self) -> list[str]:
        """Return model names in the order they first appear."""
        return list(dict.fromkeys(r["model"] for r in self.rows))

    def value(self, model: str, metric: str) -> float:
        """Return the value of one metric for one model, or raise naming what exists."""
        for r in self.rows:
            if r["model"] == model and r["metric"] == metric:
                return r["value"]
        have = sorted({r["metric"] for r in self.rows if r["model"] == model})
        raise KeyError(
            f"no {metric!r} for model {model!r}; it has: {', '.join(have) or 'nothing'} "
            f"(models: {', '.join(self.models())})"
        )

    def interval(self, model: str, metric: str) -> tuple[float, float] | None:
        """Return the 95 % interval stored with one value, or None when the row has none."""
        self.value(model, metric)  # raises, naming what exists, when there is no such row
        found = self._find(model, metric).get("interval")
        return None if found is None else (found[0], found[1])

    def ratio(self, metric: str, model: str, baseline: str) -> float:
        """Return ``metric`` of ``model`` divided by that of ``baseline``."""
        return self.value(model, metric) / self.value(baseline, metric)

    def frame(self, wide: bool = False) -> pd.DataFrame:
        """Return the raw rows as a DataFrame to compute with; ``wide=True``: a row per metric, a column per model."""
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        if not wide:
            return df
        out = df.pivot_table(index=["metric", "unit"], columns="model", values="value", sort=False)
        return out[self.models()]

    def _cell(self, row: dict | None) -> str:
        """Return one row's value as a person reads it, with a word where the number alone would mislead."""
        if row is None:
            return ""
        if "above_idle" in row["metric"] and row["value"] < 0:
            return "below idle (noise)"  # the run drew less than the idle baseline: the difference is noise
        text = human(row["value"], row["unit"])
        if "interval" in row:
            low, high = row["interval"]
            text = f"{text} (95 % interval {low:.3g} .. {high:.3g})"
        return f"{text} (disturbed)" if is_disturbed(row) else text

    def disturbed(self, metrics: Iterable[str] | None = None, models: Iterable[str] | None = None) -> list[dict]:
        """Return the rows (of ``metrics`` and ``models``, default all) that other processes disturbed."""
        metrics, models = set(metrics or []), set(models or [])
        return [
            r
            for r in self.rows
            if is_disturbed(r) and (not metrics or r["metric"] in metrics) and (not models or r["model"] in models)
        ]

    def _find(self, model: str, metric: str) -> dict | None:
        return next((r for r in self.rows if r["model"] == model and r["metric"] == metric), None)

    def _metrics(self, metrics: list[str] | None) -> list[str]:
        have = list(dict.fromkeys(r["metric"] for r in self.rows))
        if metrics is None:
            return have
        missing = [m for m in metrics if m not in have]
        if missing:
            raise KeyError(f"no rows for {', '.join(map(repr, missing))}; this report has: {', '.join(have)}")
        return list(metrics)

    def table(self, metrics: list[str] | None = None) -> pd.DataFrame:
        """Return a table to read: one row per metric (in words), one column per model, values in human units."""
        models = self.models()
        cells = {readable(m): [self._cell(self._find(model, m)) for model in models] for m in self._metrics(metrics)}
        out = pd.DataFrame.from_dict(cells, orient="index", columns=models)
        out.index.name = "metric"
        return out.loc[:, (out != "").any(axis=0)]

    def versus(self, baseline: str, metrics: list[str] | None = None, models: list[str] | None = None) -> pd.DataFrame:
        """Return the before/after table: the ``baseline`` model, each other model (or ``models``), and its ratio
        to the baseline. A ratio of two timings is "not measurable now" when either was disturbed."""
        unknown = [m for m in [baseline, *(models or [])] if m not in self.models()]
        if unknown:
            raise KeyError(f"no model {unknown[0]!r} in this report; it has: {', '.join(self.models())}")
        others = [m for m in (models or self.models()) if m != baseline]
        table: dict[str, list[str]] = {}
        for metric in self._metrics(metrics):
            base = self._find(baseline, metric)
            row = [self._cell(base)]
            for model in others:
                this = self._find(model, metric)
                row += [self._cell(this), _ratio(base, this)]
            table[readable(metric)] = row
        columns = [baseline] + [c for m in others for c in (m, f"{m} / {baseline}")]
        out = pd.DataFrame.from_dict(table, orient="index", columns=columns)
        out.index.name = "metric"
        return out.loc[:, (out != "").any(axis=0)]

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV and return the path."""
        path = _writable(path)
        with config.atomic_path(path) as tmp:
            self.frame().to_csv(tmp, index=False)
        return path

    def to_dict(self) -> dict:
        """Return ``{"rows": [...], "environment": {...}}`` with NaN written as null."""
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in self.rows]
        return {"rows": clean, "environment": self.environment}

    def to_json(self, path: str | Path) -> Path:
        """Write rows and environment as JSON and return the path."""
        path = _writable(path)
        with config.atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> Report:
        """Read a Report written by ``to_json``."""
        data = json.loads(Path(path).read_text())
        rows = [{k: (float("nan") if k == "value" and v is None else v) for k, v in r.items()} for r in data["rows"]]
        return cls(rows, data.get("environment"))

    def to_html(self, path: str | Path, title: str = "LightLab report", figures: tuple = ()) -> Path:
        """Write a self-contained offline HTML page with ``figures`` (plotly.js inlined, no CDN); return the path."""
        path = _writable(path)
        parts = [
            f"<h1>{title}</h1>",
            "<h2>Environment</h2>",
            pd.Series(self.environment, dtype=object).to_frame("value").to_html(),
            "<h2>Measurements</h2>",
            self.table().to_html(),
        ]
        for i, fig in enumerate(figures):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
        with config.atomic_path(path) as tmp:
            tmp.write_text(
                "<!doctype html><html><head><meta charset='utf-8'>"
                f"<title>{title}</title></head><body>{''.join(parts)}</body></html>"
            )
        return path

    def _repr_html_(self) -> str:
        return self.table().to_html()


def is_disturbed(row: dict) -> bool:
    """Return True when ``row`` carries the note that other processes disturbed its measurement."""
    return "disturbed" in (row.get("note") or "")


def _ratio(base: dict | None, this: dict | None) -> str:
    """Return this / base as 'N×', or why there is no honest ratio."""
    if base is None or this is None or not base["value"] or math.isnan(base["value"]) or math.isnan(this["value"]):
        return ""
    if is_disturbed(base) or is_disturbed(this):
        return "not measurable now (disturbed)"
    if "above_idle" in base["metric"] and min(base["value"], this["value"]) <= 0:
        return ""
    ratio = this["value"] / base["value"]
    text = human(ratio, "x")
    return f"{text} (1/{1 / ratio:,.0f})" if 0 < ratio < 0.1 else text

"""``Report``: tidy measurement rows ``{model, metric, value, unit, method}`` plus the environment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

COLUMNS = ["model", "metric", "value", "unit", "method", "spread", "note"]


def _writable(path: str | Path) -> Path:
    """Return ``path`` with its folder created, or raise if it names a folder."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path / 'report.csv'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class Report:
    """A thin wrapper over measurement rows with table, plot and export methods."""

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
    ) -> Report:
        """Append one row (a method is required: no number without its provenance) and return self."""
        if not method:
            raise ValueError(f"row {model}/{metric} has no method: say how the number was obtained")
        row = {"model": model, "metric": metric, "value": float(value), "unit": unit, "method": method}
        if spread is not None:
            row["spread"] = float(spread)
        if note:
            row["note"] = note
        self.rows.append(row)
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

    def ratio(self, metric: str, model: str, baseline: str) -> float:
        """Return ``metric`` of ``model`` divided by that of ``baseline``."""
        return self.value(model, metric) / self.value(baseline, metric)

    def table(self, wide: bool = False) -> pd.DataFrame:
        """Return the rows as a DataFrame; ``wide=True`` gives one row per metric and one column per model."""
        df = pd.DataFrame(self.rows, columns=COLUMNS)
        if not wide:
            return df
        out = df.pivot_table(index=["metric", "unit"], columns="model", values="value", sort=False)
        return out[self.models()]

    def plot(self, metrics: list[str] | None = None, log: bool = True):
        """Return a plotly figure: one bar panel per metric, one bar per model."""
        from lightlab.face import plots

        return plots.report_bars(self, metrics, log=log)

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV and return the path."""
        path = _writable(path)
        self.table().to_csv(path, index=False)
        return path

    def to_dict(self) -> dict:
        """Return ``{"rows": [...], "environment": {...}}`` with NaN written as null."""
        clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in self.rows]
        return {"rows": clean, "environment": self.environment}

    def to_json(self, path: str | Path) -> Path:
        """Write rows and environment as JSON and return the path."""
        path = _writable(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> Report:
        """Read a Report written by ``to_json``."""
        data = json.loads(Path(path).read_text())
        rows = [{k: (float("nan") if k == "value" and v is None else v) for k, v in r.items()} for r in data["rows"]]
        return cls(rows, data.get("environment"))

    def to_html(self, path: str | Path, title: str = "LightLab report", figures: list | None = None) -> Path:
        """Write a self-contained offline HTML page (plotly.js inlined, no CDN) and return the path."""
        path = _writable(path)
        figures = figures if figures is not None else [self.plot()]
        parts = [
            f"<h1>{title}</h1>",
            "<h2>Environment</h2>",
            pd.Series(self.environment, dtype=object).to_frame("value").to_html(),
            "<h2>Measurements</h2>",
            self.table().to_html(index=False, na_rep=""),
        ]
        for i, fig in enumerate(figures):
            parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
        path.write_text(
            "<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{title}</title></head><body>{''.join(parts)}</body></html>"
        )
        return path

    def _repr_html_(self) -> str:
        return self.table(wide=True).to_html()

"""The figure check (tests/_figures.py) catches each figure bug it was written for, and passes a clean figure."""

import plotly.graph_objects as go
from _figures import problems
from plotly.subplots import make_subplots


def _json(fig: go.Figure) -> dict:
    return fig.to_plotly_json()


def test_a_clean_figure_passes():
    fig = go.Figure(go.Bar(x=["large", "small"], y=[4.5e6, 1.2e4]))
    fig.update_yaxes(type="log", title_text="size on disk (bytes)")
    assert problems(_json(fig)) == []


def test_annotation_text_on_a_log_axis_is_caught():
    fig = go.Figure(go.Bar(x=["large", "small"], y=[4.5e6, 1.2e4]))
    fig.update_yaxes(type="log")
    fig.add_hline(y=1e5, annotation_text="budget")  # plotly puts the label at 10^100000
    assert any("log axis yaxis" in p for p in problems(_json(fig)))


def test_colorbar_over_legend_is_caught():
    fig = go.Figure([go.Scatter(x=[1, 2], y=[1, 2], name="a", marker={"color": [1, 2], "showscale": True}),
                     go.Scatter(x=[1, 2], y=[2, 1], name="b")])  # fmt: skip
    assert any("colorbar" in p for p in problems(_json(fig)))
    fig.update_layout(legend={"orientation": "h", "y": 1.1})
    assert problems(_json(fig)) == []


def test_colliding_subplot_titles_are_caught():
    long = "energy per inference (estimated, CodeCarbon)"
    fig = make_subplots(rows=1, cols=4, subplot_titles=[long, long, "accuracy", "size"])
    assert any("run into each other" in p for p in problems(_json(fig)))


def test_a_legend_over_the_axis_title_is_caught():
    fig = go.Figure([go.Scatter(x=[1, 2], y=[1, 2], name="a"), go.Scatter(x=[1, 2], y=[2, 1], name="b")])
    fig.update_layout(legend={"orientation": "h", "y": -0.15}, xaxis_title="threshold")
    assert any("horizontal legend" in p for p in problems(_json(fig)))


def test_raw_metric_names_are_caught():
    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    fig.update_layout(yaxis_title="latency_per_sample")
    assert problems(_json(fig)) == ["raw metric name in 'latency_per_sample': use words and a unit"]

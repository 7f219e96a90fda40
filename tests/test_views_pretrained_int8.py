"""views.pretrained_int8: three panels drawn from a compare_pretrained Report, checked as JSON."""

import pytest
from _figures import problems

import lightlab as ll
from lightlab.techniques.pretrained_int8 import TEXT, VISION


def _report() -> ll.Report:
    """A Report shaped like compare_pretrained's, without running the models."""
    report = ll.Report()
    method = "a test row"
    for name, size in zip((*VISION, *TEXT), (18.9e6, 18.7e6, 5.2e6, 90.9e6, 22.9e6), strict=True):
        report.add(name, "size", size, "bytes", method).add(name, "latency_p50_b1", 3.0, "ms", method)
    report.add(VISION[1], "top1_agreement", 100.0, "%", method).add(VISION[2], "top1_agreement", 90.5, "%", method)
    report.add(TEXT[1], "neighbour_agreement", 96.9, "%", method)
    latency = next(r for r in report.rows if r["model"] == TEXT[0] and r["metric"] == "latency_p50_b1")
    latency["note"] = "disturbed: other processes used 1.0 cores while timing; rerun on a quiet machine"
    return report


def test_three_panels_keep_one_colour_per_model():
    fig = ll.views.pretrained_int8.plot_pretrained(_report())
    agree, size, latency = fig.data
    assert list(agree.x) == [VISION[1], VISION[2], TEXT[1]] and list(agree.y) == [100.0, 90.5, 96.9]
    assert list(size.y) == pytest.approx([18.9, 18.7, 5.2, 90.9, 22.9])  # MB
    assert len(latency.x) == 5 and agree.marker.color[1] == size.marker.color[2]  # int8 EfficientNet
    assert "disturbed" in latency.hovertext[3] and "disturbed" not in latency.hovertext[4]
    assert problems(fig.to_plotly_json()) == []


def test_refuses_a_report_it_cannot_draw():
    with pytest.raises(ValueError, match="no latency_p50_b1 rows"):
        ll.views.pretrained_int8.plot_pretrained(
            ll.Report().add("m", "size", 1, "bytes", "x").add("m", "top1_agreement", 1, "%", "x")
        )

import pytest

import lightlab as ll
from lightlab.techniques.prune import PruneConfig


@pytest.fixture(scope="module")
def large():
    return ll.zoo.pretrained("digits-large")


def test_sensitivity_plot_draws_one_line_per_layer(large, digits):
    table = ll.prune.layer_sensitivity(large, task=digits, sparsities=(0.0, 0.9))
    fig = ll.views.prune.plot_sensitivity(table)
    assert len(fig.data) == 4 and all(list(line.x) == [0.0, 90.0] for line in fig.data)


def test_weight_histogram_counts_zeros(large):
    fig = ll.views.prune.weight_histogram({"original": large, "pruned": ll.prune.prune(large, PruneConfig(0.75))})
    assert [bar.name for bar in fig.data] == ["original (0% zeros)", "pruned (75% zeros)"]


def test_explorer_reruns_on_every_control(digits):
    explorer = ll.views.prune.PruneExplorer(ll.zoo.pretrained("digits-small"), digits)
    explorer.run()
    assert explorer.summary.value.startswith("unstructured, global, 50%")
    # Unstructured zeros: the summary says the dense kernel does not skip them, and states no speed-up as fact.
    assert "does not make it faster" in explorer.summary.value and "the speed" not in explorer.summary.value
    assert "measured" in explorer.summary.value or "not measurable now" in explorer.summary.value
    assert explorer.result.ratio("nonzero_params", "pruned", "original") == pytest.approx(0.5, abs=0.01)
    explorer.granularity.value = "structured (channels)"
    assert explorer.runs == 2 and "does not make it faster" not in explorer.summary.value
    assert explorer.result.value("pruned", "params") == 1210  # 64-16-10 instead of 64-32-10
    assert explorer.result.ratio("size", "pruned", "original") < 0.7
    explorer.sparsity.value = 0.25
    assert explorer.result.value("pruned", "accuracy") > 90
    explorer.finetune.value = True
    assert explorer.runs == 4 and "fine-tuning" in explorer.summary.value


def test_explorer_flags_a_disturbed_timing_instead_of_a_ratio(digits):
    explorer = ll.views.prune.PruneExplorer(ll.zoo.pretrained("digits-small"), digits)
    explorer.run()
    for row in explorer.result.rows:
        if row["metric"].startswith("latency"):
            row["note"] = "disturbed: other processes used 1.5 cores while timing; rerun on a quiet machine"
    summary = explorer.describe(explorer.result)
    assert "not measurable now" in summary and "disturbed" in summary and " ms" not in summary  # no numbers to misread
    for control in (explorer.sparsity, explorer.granularity, explorer.finetune):
        assert control.style.description_width == "initial"  # labels are never cut short

import pytest

import lightlab as ll
from lightlab.techniques import distill as D


def student(seed: int = 0):
    return ll.zoo.mlp(64, 10, (128,), seed=seed)


@pytest.fixture(scope="module")
def teacher():
    return ll.zoo.pretrained("digits-large")


def test_soft_targets_plot_has_one_distribution_per_temperature(digits, teacher):
    fig = ll.views.distill.plot_soft_targets(teacher, digits.example(3), temperatures=(1, 8))
    assert [bars.name for bars in fig.data] == ["T = 1", "T = 8"]
    assert all(sum(bars.y) == pytest.approx(1.0) and len(bars.x) == 10 for bars in fig.data)
    assert max(fig.data[1].y) < max(fig.data[0].y)  # a higher temperature flattens the targets


def test_explorer_reruns_and_caches_the_baseline(digits, teacher):
    explorer = ll.views.distill.DistillExplorer(teacher, student, digits, D.DistillConfig(epochs=3, label_fraction=0.1))
    first = explorer.run()
    explorer.temperature.value = 8.0
    assert explorer.result is not first and "T=8" in explorer.summary.value
    assert explorer.result.value("student, no KD", "accuracy") == first.value("student, no KD", "accuracy")
    explorer.label_fraction.value = 1.0
    assert "all labels" in explorer.summary.value and len(explorer._baselines) == 2
    assert explorer.temperature.style.description_width == "initial"  # "temperature T", never "temperat..."

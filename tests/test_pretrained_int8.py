"""pretrained_int8: real EfficientNet-Lite0 and MiniLM, fp32 against int8, on real photos and sentences."""

import pytest
import torch

import lightlab as ll
from lightlab.data import photos
from lightlab.models import packaged
from lightlab.techniques import pretrained_int8 as p


@pytest.fixture(scope="module")
def report():
    # The quick-mode defaults (2 random crops per test photo, 32 sentences) with energy, which quick mode skips.
    return p.compare_pretrained(p.PretrainedConfig(energy=True, repeats=3))


@pytest.mark.slow
def test_efficientnet_names_the_photos_a_person_can_name():
    model = packaged.load("efficientnet-lite0")
    known = p.classify(model, {name: photos.image(name) for name in photos.LABELS})
    assert known == {"china": 698, "flower": 985} == photos.LABELS
    table = p.predictions({"fp32": model}, {"china": photos.image("china"), "flower": photos.image("flower")})
    assert table["fp32"].tolist() == ["698 palace", "985 daisy"]
    with pytest.raises(ValueError, match="needs the models of vision_models"):
        p.compare_vision(models={"mine": model})


@pytest.mark.slow
def test_int8_efficientnet_mostly_answers_as_fp32(report):
    torch_fp32, ort_fp32, ort_int8 = p.VISION
    assert report.value(ort_fp32, "top1_agreement") == 100.0  # the same float graph in another runtime
    assert report.value(ort_int8, "top1_agreement") >= 75.0  # measured 90.5 % (19 of 21 views)
    assert report.value(ort_int8, "top5_overlap") >= 75.0
    for name in p.VISION:  # the palace and the daisy, in all three
        assert report.value(name, "labelled_photos_right") == 2
    assert (
        "calibrated on 27 crops of the 9 calibration photos"
        in report.frame().query("metric == 'top1_agreement'").method.iloc[0]
    )


@pytest.mark.slow
def test_int8_minilm_embeds_as_fp32(report):
    shipped = p.TEXT[1]
    assert report.value(shipped, "cosine_mean") > 0.99
    assert report.value(shipped, "cosine_min") > 0.99
    assert report.value(shipped, "neighbour_agreement") >= 90.0


@pytest.mark.slow
def test_sizes_are_the_bytes_written(report):
    torch_fp32, ort_fp32, ort_int8 = p.VISION
    assert report.value(ort_int8, "size") < 0.3 * report.value(torch_fp32, "size")
    assert report.value(ort_fp32, "size") == pytest.approx(report.value(torch_fp32, "size"), rel=0.02)
    assert report.value(p.TEXT[1], "size") == packaged.path("minilm-l6-int8").stat().st_size
    assert report.value(p.TEXT[0], "size") == pytest.approx(4 * report.value(p.TEXT[0], "params"), rel=0.01)
    assert report.value(torch_fp32, "params") == packaged.card("efficientnet-lite0").parameters


@pytest.mark.slow
def test_every_model_is_timed_and_its_energy_labelled(report):
    for name in (*p.VISION, *p.TEXT):
        report.value(name, "latency_p50_b1")  # present; its value is the machine's business
        row = report.frame().query("model == @name and metric == 'energy_per_inference'").iloc[0]
        assert row.method.startswith(("measured", "estimated", "unavailable"))
    assert "idle" not in report.models()


def test_agreement_counts_top1_and_top5():
    reference = torch.tensor([[9.0, 8, 7, 6, 5, 0], [0, 1, 2, 3, 4, 9]])
    logits = torch.tensor([[9.0, 8, 7, 6, 0, 5], [9, 1, 2, 3, 4, 0]])
    top1, top5 = p.agreement(reference, logits)
    assert top1 == 0.5 and top5 == pytest.approx((4 / 5 + 4 / 5) / 2)


def test_mean_pool_ignores_padding_and_normalises():
    hidden = torch.tensor([[[3.0, 0], [0, 4], [100, 100]]])
    pooled = p.mean_pool(hidden, torch.tensor([[1, 1, 0]]))
    assert torch.allclose(pooled, torch.tensor([[0.6, 0.8]]))


def test_neighbours_and_sentences():
    unit = torch.nn.functional.normalize(torch.tensor([[1.0, 0], [0.9, 0.1], [0, 1]]), dim=1)
    assert p.neighbours(unit).tolist() == [1, 0, 1]
    said = p.sentences(5, seed=3)
    assert said == p.sentences(5, seed=3) != p.sentences(5, seed=4)
    test_text = " ".join(ll.text.paragraphs("test"))
    assert all(s in test_text and len(s.split()) >= 5 for s in said)


def test_config_refuses_nonsense():
    with pytest.raises(ValueError, match="sentences must be a whole number >= 2"):
        p.PretrainedConfig(sentences=1)
    with pytest.raises(ValueError, match="views must be a whole number >= 0"):
        p.PretrainedConfig(views=-1)

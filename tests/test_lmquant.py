import pytest
import torch
from torch import nn

from lightlab.measurement.generation import file_bytes, greedy, perplexity
from lightlab.techniques import lmquant
from lightlab.techniques.grids import Grid
from lightlab.techniques.lmquant import LMQuantConfig, W8A8Config, quantize_lm, w8a8
from lightlab.techniques.qlinear import Int8Embedding, QuantLinear, W8A8Linear


@pytest.fixture(scope="module")
def fp32_ppl(smollm2, smol_text):
    return perplexity(smollm2, smol_text)


def test_int4_in_groups_of_32_keeps_smollm2_and_is_a_fifth_of_the_file(smollm2, smol_text, fp32_ppl):
    before = smollm2.model.layers[0].mlp.up_proj.weight.clone()
    q = quantize_lm(smollm2, LMQuantConfig(Grid(4, 32)))
    assert perplexity(q, smol_text) == pytest.approx(fp32_ppl, rel=0.03)
    assert file_bytes(q) < 0.20 * 134_515_008 * 4
    assert isinstance(q.model.layers[0].mlp.up_proj, QuantLinear) and q.model.layers[0].mlp.up_proj.kernel == "int4pack"
    assert isinstance(q.model.embed_tokens, Int8Embedding) and q.lm_head.qweight is q.model.embed_tokens.qweight
    # the given model is untouched
    assert isinstance(smollm2.model.layers[0].mlp.up_proj, nn.Linear)
    assert torch.equal(smollm2.model.layers[0].mlp.up_proj.weight, before)


def test_loss_appears_below_4_bits_and_awq_recovers_part_of_it(smollm2, smol_text, smol_calibration, fp32_ppl):
    rtn3 = perplexity(quantize_lm(smollm2, LMQuantConfig(Grid(3, 32))), smol_text)
    awq3 = perplexity(quantize_lm(smollm2, LMQuantConfig(Grid(3, 32), "awq", steps=5), smol_calibration), smol_text)
    assert fp32_ppl * 1.5 < rtn3
    assert awq3 < rtn3


def test_smoothquant_rescues_per_tensor_w8a8(smollm2, smol_text, smol_calibration, fp32_ppl):
    naive = w8a8(smollm2, W8A8Config(alpha=None))
    smooth = w8a8(smollm2, W8A8Config(alpha=0.7), smol_calibration)
    assert isinstance(naive.model.layers[5].self_attn.q_proj, W8A8Linear)
    assert perplexity(smooth, smol_text) < perplexity(naive, smol_text)
    # the smoothing is folded into the copy's norms, never into the given model's
    assert not torch.equal(
        smooth.model.layers[0].input_layernorm.weight, smollm2.model.layers[0].input_layernorm.weight
    )


def test_gptq_runs_layer_by_layer_on_a_tiny_llama(tiny_llama):
    calibration = torch.randint(0, 256, (4, 16), generator=torch.Generator().manual_seed(0))
    q = quantize_lm(tiny_llama, LMQuantConfig(Grid(4, 32), "gptq"), calibration)
    again = quantize_lm(tiny_llama, LMQuantConfig(Grid(4, 32), "gptq"), calibration)
    layer = q.model.layers[1].mlp.down_proj
    assert isinstance(layer, QuantLinear) and torch.equal(layer.packed, again.model.layers[1].mlp.down_proj.packed)
    assert greedy(q, torch.tensor([[3, 4, 5]]), 4).shape == (4,)


def test_bad_configs_and_inputs_fail_before_any_work(tiny_llama):
    with pytest.raises(ValueError, match="unknown method 'smoothquant'; use one of rtn, gptq, awq"):
        LMQuantConfig(method="smoothquant")
    with pytest.raises(ValueError, match="group_size 96 does not divide"):
        quantize_lm(tiny_llama, LMQuantConfig(Grid(4, 96)))
    with pytest.raises(ValueError, match="gptq needs calibration token ids"):
        quantize_lm(tiny_llama, LMQuantConfig(method="gptq"))
    with pytest.raises(ValueError, match="calibration set is empty"):
        quantize_lm(tiny_llama, LMQuantConfig(method="awq"), torch.empty(0, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="not a Llama-architecture causal LM"):
        quantize_lm(nn.Sequential(nn.Linear(4, 4)))
    with pytest.raises(ValueError, match="alpha must be None"):
        W8A8Config(alpha=2.0)
    with pytest.raises(ValueError, match="SmoothQuant needs calibration"):
        lmquant.w8a8(tiny_llama, W8A8Config(alpha=0.5))


def test_presets_name_the_ladder(tiny_llama):
    q = lmquant.from_preset(tiny_llama, "int4")
    assert q.model.layers[0].mlp.up_proj.grid == Grid(4, 32)
    assert isinstance(lmquant.from_preset(tiny_llama, "w8a8").model.layers[0].mlp.up_proj, W8A8Linear)
    with pytest.raises(ValueError, match="unknown quantization preset 'int5'; use one of int8, int4"):
        lmquant.from_preset(tiny_llama, "int5")

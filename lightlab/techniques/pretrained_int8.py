"""Does int8 hold up on real pretrained models? EfficientNet-Lite0 on real photos, MiniLM on real sentences.

``compare_pretrained()`` returns one ``Report`` measured side by side in one run:
- EfficientNet-Lite0 (ImageNet-1k) as PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime static int8, the int8
  calibrated on photos that are never evaluated; agreement with PyTorch fp32 on the test photos (top-1, top-5);
- all-MiniLM-L6-v2 as PyTorch fp32 and as the int8 ONNX file another package ships; agreement of the sentence
  embeddings (cosine, nearest neighbour) on sentences of the held-out chapters of the Python tutorial.
Sizes come from the bytes written, latency from ``ll.measure.interleaved`` at batch 1, energy from ``ll.energy``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lightlab import config
from lightlab.data import photos, text
from lightlab.measurement.energy import measure_energy
from lightlab.measurement.measure import add_timing, count_params, environment, file_size, interleaved
from lightlab.measurement.report import Report
from lightlab.models import packaged
from lightlab.models.onnx import OnnxModel, export_onnx
from lightlab.techniques import int8
from lightlab.techniques.quantize import QuantConfig

VISION = ("efficientnet torch fp32", "efficientnet onnxruntime fp32", "efficientnet onnxruntime int8")
TEXT = ("minilm torch fp32", "minilm onnx int8 (shipped)")


@dataclass(frozen=True)
class PretrainedConfig:
    """How much real data to use (None: the full or quick default), the seed, and whether to read energy.

    - ``views``: random crops of each test photo evaluated beside its centre crop (full 8, quick 2);
    - ``calibration_views``: random crops of each calibration photo the int8 ranges are set on (full 6, quick 2);
    - ``sentences``: test sentences embedded (full 128, quick 32);
    - ``energy``: CodeCarbon energy per inference for every model, labelled with its method (None: in full mode
      only; its measuring windows cost seconds per model);
    - ``repeats``: timed calls per model in each of the alternating rounds (full 100, quick 10).
    """

    views: int | None = None
    calibration_views: int | None = None
    sentences: int | None = None
    seed: int = 0
    energy: bool | None = None
    repeats: int | None = None

    def __post_init__(self) -> None:
        for field, least in (("views", 0), ("calibration_views", 1), ("sentences", 2), ("repeats", 1)):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, int) or value < least):
                raise ValueError(f"{field} must be a whole number >= {least} (or None for the default), got {value!r}")

    def resolved(self, field: str, full: int, short: int) -> int:
        """Return ``field``'s value, or the full/quick default when it is None."""
        value = getattr(self, field)
        return int(config.pick(full, short) if value is None else value)


def agreement(reference: torch.Tensor, logits: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Return (share of rows whose top-1 class equals the reference's, mean share of the reference's top-k kept)."""
    top1 = (logits.argmax(1) == reference.argmax(1)).float().mean().item()
    ref_k, new_k = reference.topk(k, dim=1).indices, logits.topk(k, dim=1).indices
    overlap = [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(ref_k, new_k, strict=True)]
    return top1, float(np.mean(overlap))


def vision_models(cfg: PretrainedConfig | None = None) -> dict[str, nn.Module]:
    """Return EfficientNet-Lite0 as PyTorch fp32, ONNX Runtime fp32 and ONNX Runtime static int8.

    The int8 ranges are calibrated on crops of the calibration photos, never on a test photo; the int8 model's
    ``calibration`` attribute says on what.
    """
    cfg = cfg or PretrainedConfig()
    views = cfg.resolved("calibration_views", 6, 2)
    calibration = photos.efficientnet_inputs(photos.images("calibration"), views, cfg.seed + 1000)
    model = packaged.load("efficientnet-lite0")
    exported = export_onnx(model, calibration[:1])
    settings = QuantConfig(
        backend="onnxruntime", mode="static", calibration=calibration, calibration_size=len(calibration)
    )
    quantized = int8.onnxruntime_int8(model, settings, exported)
    quantized.calibration = f"{len(calibration)} crops of the {len(photos.names('calibration'))} calibration photos"
    fp32 = OnnxModel(exported, macs_per_sample=quantized.macs_per_sample)
    return dict(zip(VISION, (model, fp32, quantized), strict=True))


@torch.inference_mode()
def logits(model: nn.Module, x: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Return ``model``'s outputs on ``x``, run ``chunk`` inputs at a time (ONNX Runtime keeps a batch's memory)."""
    return torch.cat([model(part) for part in x.split(chunk)])


@torch.inference_mode()
def classify(model: nn.Module, images: dict[str, np.ndarray]) -> dict[str, int]:
    """Return the top-1 ImageNet class ``model`` gives each photo's centre crop."""
    return dict(zip(images, model(photos.efficientnet_inputs(images)).argmax(1).tolist(), strict=True))


def predictions(models: dict[str, nn.Module], images: dict[str, np.ndarray]) -> pd.DataFrame:
    """Return a table: one row per photo, one column per model, its top-1 ImageNet class (named where checked)."""
    columns = {name: list(classify(m, images).values()) for name, m in models.items()}
    named = {name: [f"{c} {photos.CLASS_NAMES.get(c, '')}".strip() for c in top] for name, top in columns.items()}
    return pd.DataFrame(named, index=list(images))


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Return L2-normalised means of ``hidden`` over the tokens ``mask`` keeps (sentence-transformers' pooling)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=1)


class TorchEmbedder(nn.Module):
    """A transformers BERT encoder as ``model(input_ids, attention_mask) -> unit sentence embeddings``."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the unit sentence embeddings of token ``ids`` (``mask``: 1 for real tokens, 0 for padding)."""
        mask = torch.ones_like(ids) if mask is None else mask
        hidden = self.encoder(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        return mean_pool(hidden.last_hidden_state, mask)


class OnnxEmbedder(nn.Module):
    """The shipped MiniLM .onnx (three named inputs) as ``model(input_ids, attention_mask) -> unit embeddings``.

    ``OnnxModel.forward`` feeds one input, so this calls its ONNX Runtime session with all three by name.
    """

    def __init__(self, encoder: OnnxModel):
        super().__init__()
        self.encoder = encoder

    @property
    def onnx_bytes(self) -> bytes:
        """Return the .onnx file's bytes (what ``ll.measure.file_size`` weighs)."""
        return self.encoder.onnx_bytes

    def parameters(self, recurse: bool = True) -> Iterator[torch.Tensor]:
        """Yield the weight tensors stored in the .onnx file."""
        yield from self.encoder.parameters()

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return the unit sentence embeddings of token ``ids`` (``mask``: 1 for real tokens, 0 for padding)."""
        mask = torch.ones_like(ids) if mask is None else mask
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
        arrays = {name: np.ascontiguousarray(tensor, dtype=np.int64) for name, tensor in feeds.items()}
        return mean_pool(torch.from_numpy(self.encoder.session.run(None, arrays)[0]), mask)


def text_models() -> dict[str, nn.Module]:
    """Return all-MiniLM-L6-v2 as PyTorch fp32 and as the shipped int8 ONNX file, both giving unit embeddings."""
    fp32, shipped = TorchEmbedder(packaged.load("minilm-l6")), OnnxEmbedder(packaged.load("minilm-l6-int8"))
    return dict(zip(TEXT, (fp32, shipped), strict=True))


def sentences(n: int, seed: int = 0) -> list[str]:
    """Return ``n`` seeded sentences of at least five words from the test chapters of the Python tutorial."""
    found = [s for p in text.paragraphs("test") for s in re.split(r"(?<=[.!?])\s+", p) if len(s.split()) >= 5]
    if n > len(found):
        raise ValueError(f"the test chapters hold {len(found)} sentences of five words or more; ask for at most that")
    rng = np.random.default_rng(seed)
    return [found[i] for i in sorted(rng.choice(len(found), n, replace=False))]


@torch.inference_mode()
def embed(models: dict[str, nn.Module], batch: dict[str, torch.Tensor], chunk: int = 8) -> dict[str, torch.Tensor]:
    """Return each model's unit embeddings of a tokenized, padded ``batch``, ``chunk`` sentences at a time."""
    ids, mask = batch["input_ids"].split(chunk), batch["attention_mask"].split(chunk)
    return {name: torch.cat([m(i, k) for i, k in zip(ids, mask, strict=True)]) for name, m in models.items()}


def neighbours(embeddings: torch.Tensor) -> torch.Tensor:
    """Return, for each row, the index of the most similar other row (cosine of unit vectors)."""
    similarity = embeddings @ embeddings.T
    return similarity.fill_diagonal_(-2.0).argmax(1)


def _costs(report: Report, models: dict[str, nn.Module], one: torch.Tensor, cfg: PretrainedConfig) -> None:
    """Add size, parameters, batch-1 latency (models in turns) and, if asked, CodeCarbon energy rows."""
    for name, m in models.items():
        size, how = file_size(m)
        report.add(name, "size", size, "bytes", how)
        report.add(name, "params", count_params(m), "count", "weight elements stored")
    for name, t in interleaved(models, one, repeats=cfg.resolved("repeats", 100, 10)).items():
        add_timing(report, name, t)
    if cfg.energy or (cfg.energy is None and not config.quick()):  # idle is subtracted in the above-idle rows
        report.extend(r for r in measure_energy(models, one, progress=False) if r["model"] != "idle")


def compare_vision(cfg: PretrainedConfig | None = None, models: dict[str, nn.Module] | None = None) -> Report:
    """Return EfficientNet-Lite0's agreement with PyTorch fp32, size, latency and energy as fp32 and int8.

    ``models``: the three of ``vision_models`` if already built (the export and calibration take the longest).
    """
    cfg = cfg or PretrainedConfig()
    models = models or vision_models(cfg)
    if list(models) != list(VISION):
        raise ValueError(
            f"compare_vision needs the models of vision_models(), named {list(VISION)}; got {list(models)}"
        )
    views, test = cfg.resolved("views", 8, 2), photos.images("test")
    x = photos.efficientnet_inputs(test, views, cfg.seed)
    outputs = {name: logits(m, x) for name, m in models.items()}
    report = Report(environment=environment())
    where = (
        f"{len(x)} views of {len(test)} test photos (centre crop + {views} random crops each) against {VISION[0]}; "
        f"int8 calibrated on {getattr(models[VISION[2]], 'calibration', 'inputs not recorded')}"
    )
    for name in VISION[1:]:
        top1, top5 = agreement(outputs[VISION[0]], outputs[name])
        report.add(name, "top1_agreement", 100 * top1, "%", where)
        report.add(name, "top5_overlap", 100 * top5, "%", where)
    known = ", ".join(f"{p}: {c} ({photos.CLASS_NAMES[c]})" for p, c in photos.LABELS.items())
    centre = {p: i * (views + 1) for i, p in enumerate(test)}  # each photo's centre crop comes first
    for name, out in outputs.items():
        right = sum(out[centre[p]].argmax().item() == c for p, c in photos.LABELS.items())
        report.add(
            name, "labelled_photos_right", right, "count", f"centre crops of the photos with a known class: {known}"
        )
    _costs(report, models, x[:1], cfg)
    return report


def compare_text(cfg: PretrainedConfig | None = None) -> Report:
    """Return MiniLM's embedding agreement with PyTorch fp32 (cosine, nearest neighbour), size, latency, energy."""
    cfg = cfg or PretrainedConfig()
    said = sentences(cfg.resolved("sentences", 128, 32), cfg.seed)
    tokenizer = packaged.tokenizer("minilm-l6")
    batch = tokenizer(said, padding=True, truncation=True, max_length=128, return_tensors="pt")
    models = text_models()
    vectors = embed(models, batch)
    reference, shipped = vectors[TEXT[0]], vectors[TEXT[1]]
    cosine = (reference * shipped).sum(1)
    where = f"{len(said)} sentences of the tutorial's test chapters, mean-pooled unit embeddings vs {TEXT[0]}"
    report = Report(environment=environment())
    report.add(TEXT[1], "cosine_mean", cosine.mean().item(), "", where)
    report.add(TEXT[1], "cosine_min", cosine.min().item(), "", where)
    same = (neighbours(reference) == neighbours(shipped)).float().mean().item()
    report.add(TEXT[1], "neighbour_agreement", 100 * same, "%", f"{where}: nearest other sentence is the same")
    median = sorted(said, key=len)[len(said) // 2]  # a sentence of typical length, timed alone
    _costs(report, models, tokenizer([median], return_tensors="pt")["input_ids"], cfg)
    return report


def compare_pretrained(cfg: PretrainedConfig | None = None) -> Report:
    """Return one Report: EfficientNet-Lite0 fp32 vs int8 on real photos, then MiniLM fp32 vs int8 on sentences."""
    return compare_vision(cfg) + compare_text(cfg)

"""Deep Compression (Han et al. 2016): prune, share weights with k-means, entropy-code, and count the real bytes.

``compress(model, CompressConfig(...), task=task, path=path)`` runs the pipeline with fine-tuning after each lossy
stage and writes a file you can deploy; ``load_compressed(path, architecture)`` restores a working model from its bytes.
Every size in the Report is the size of a file written to disk, one file per stage:

    FP32 safetensors  ->  pruned: bitmap of kept weights + their float32 values
                      ->  quantized: bitmap + 2**bits-entry codebook + a bits-wide index per kept weight
                      ->  coded: bitmap and indices entropy-coded (Huffman here; zlib or lzma to compare)
"""

from __future__ import annotations

import copy
import json
import struct
import tempfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement.measure import environment
from lightlab.measurement.report import Report
from lightlab.models import zoo
from lightlab.techniques import prune, train
from lightlab.techniques.entropy import CODERS, CompressedFileError, pack_bits, unpack_bits
from lightlab.techniques.quantize import kmeans_quantize

MAGIC = b"LLDC"  # LightLab Deep Compression
VERSION = 1
STAGES = ("fp32", "pruned", "quantized", "coded")


# ---- configuration -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompressConfig:
    """The pipeline's knobs: sparsity and bits (one value, or per layer name), the coder, the fine-tuning budget.

    A mapping names layers as ``model.named_modules()`` does (e.g. ``{"0": 0.5, "6": 0.95}``); Linear/Conv layers
    it does not name are kept dense (sparsity 0) and at 8 bits.
    """

    sparsity: float | Mapping[str, float] = 0.9
    bits: int | Mapping[str, int] = 4
    coder: str = "huffman"
    finetune_epochs: int | None = None  # after pruning; None: 5 (quick mode: 2); 0 skips
    codebook_epochs: int | None = None  # after k-means, trains the shared values only; None: 3 (quick: 1)
    lr: float = 1e-3  # Adam's learning rate after pruning
    codebook_lr: float = 1e-4  # after k-means: a centroid moves every weight of its cluster, so step gently
    seed: int = 0

    def __post_init__(self) -> None:
        for value in _values(self.sparsity):
            prune.PruneConfig(sparsity=value)  # same validation and message as pruning
        for value in _values(self.bits):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
                raise ValueError(
                    f"bits must be an integer from 1 to 8 (indices are stored one byte per symbol "
                    f"for the entropy coder), got {value!r}"
                )
        if self.coder not in CODERS:
            raise ValueError(f"unknown coder {self.coder!r}; valid: {', '.join(map(repr, CODERS))}")
        if not (self.lr > 0 and self.codebook_lr > 0):
            raise ValueError(f"learning rates must be > 0, got lr={self.lr}, codebook_lr={self.codebook_lr}")
        for name in ("finetune_epochs", "codebook_epochs"):
            value = getattr(self, name)
            if value is not None and not (type(value) is int and value >= 0):
                raise ValueError(f"{name} must be None (the default), 0 (skip) or a whole number, got {value!r}")

    def n_epochs(self, stage: str) -> int:
        """Return the fine-tuning epochs after stage 'pruned' (None: 5, quick mode 2) or 'quantized' (None: 3,
        quick mode 1); 0 skips that fine-tuning."""
        given, full, short = {"pruned": (self.finetune_epochs, 5, 2), "quantized": (self.codebook_epochs, 3, 1)}[stage]
        return 0 if given == 0 else config.epochs(given, full, short)

    def layer_settings(self, model: nn.Module) -> dict[str, tuple[float, int]]:
        """Return {layer name: (sparsity, bits)} for every Linear/Conv layer of ``model``."""
        names = [n for n, m in model.named_modules() if isinstance(m, prune.LAYER_TYPES)]
        for knob in (self.sparsity, self.bits):
            unknown = set(knob) - set(names) if isinstance(knob, Mapping) else set()
            if unknown:
                raise ValueError(f"no Linear/Conv layer named {sorted(unknown)}; the model's layers: {names}")
        return {n: (_per_layer(self.sparsity, n, 0.0), _per_layer(self.bits, n, 8)) for n in names}


def _values(knob: float | Mapping[str, float]) -> list:
    return list(knob.values()) if isinstance(knob, Mapping) else [knob]


def _per_layer(knob, name: str, default):
    return knob.get(name, default) if isinstance(knob, Mapping) else knob


# ---- the lossy stages: prune by magnitude, share weights by k-means, fine-tune the shared values -------------------


def _share(kept: torch.Tensor, bits: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (codebook, indices) of the kept weights: k-means shared values, or the values already shared."""
    distinct = kept.unique()
    if len(distinct) <= 2**bits:  # already shared (e.g. a fine-tuned codebook): store those values exactly
        return distinct, torch.searchsorted(distinct, kept).to(torch.uint8)
    return kmeans_quantize(kept, bits, seed=seed)


def _split(weight: torch.Tensor, sparsity: float, bits: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Return (mask, codebook, indices): the weights kept by magnitude and their shared values."""
    mask = prune.magnitude_mask(weight, sparsity)
    return mask, *_share(weight.detach()[mask].float(), bits, seed)


def _apply(model: nn.Module, cfg: CompressConfig, share: bool) -> nn.Module:
    """Return a copy of ``model`` with every Linear/Conv weight pruned (and, if ``share``, k-means shared)."""
    new = copy.deepcopy(model).eval()
    with torch.no_grad():
        for name, (sparsity, bits) in cfg.layer_settings(new).items():
            weight = new.get_submodule(name).weight
            mask = prune.magnitude_mask(weight, sparsity)
            weight.masked_fill_(~mask, 0)
            if share:
                codebook, indices = _share(weight[mask], bits, cfg.seed)
                weight[mask] = codebook[indices.long()]
    return new


class _SharedWeights(nn.Module):
    """A parametrization: weight = codebook[index] where kept, 0 where pruned; only the codebook trains."""

    def __init__(self, mask: torch.Tensor, codebook: torch.Tensor, indices: torch.Tensor):
        super().__init__()
        self.codebook = nn.Parameter(codebook.clone())
        full = torch.zeros(mask.shape, dtype=torch.long)
        full[mask] = indices.long()
        self.register_buffer("mask", mask)
        self.register_buffer("index", full)

    def forward(self, _weight: torch.Tensor) -> torch.Tensor:
        # Indexing sums the gradients of all weights sharing a centroid: Han et al.'s centroid update.
        return torch.where(self.mask, self.codebook[self.index], 0.0)


def finetune_codebooks(model: nn.Module, cfg: CompressConfig | None = None, *, task: Task) -> nn.Module:
    """Return a copy of a pruned, shared ``model`` whose 2**bits shared values per layer were trained on ``task``.

    Trains ``cfg.n_epochs("quantized")`` epochs (0: an untrained copy).
    """
    cfg = cfg or CompressConfig()
    tuned, epochs = copy.deepcopy(model), cfg.n_epochs("quantized")
    if not epochs:
        return tuned.eval()
    layers = cfg.layer_settings(tuned)
    for name, (sparsity, bits) in layers.items():
        layer = tuned.get_submodule(name)
        parametrize.register_parametrization(
            layer, "weight", _SharedWeights(*_split(layer.weight, sparsity, bits, cfg.seed))
        )
    train.fit_(tuned, task, epochs=epochs, lr=cfg.codebook_lr, patience=epochs, seed=cfg.seed, progress=False)
    for name in layers:  # bake codebook[index] back into a plain weight tensor
        parametrize.remove_parametrizations(tuned.get_submodule(name), "weight", leave_parametrized=True)
    return tuned.eval()


# ---- the file: what each stage writes, byte for byte --------------------------------------------------------------


def _encode(model: nn.Module, kind: str, coder: str, cfg: CompressConfig) -> tuple[list[dict], list[bytes]]:
    """Return (header entries, sections) storing ``model``'s state_dict; ``kind`` is 'sparse' or 'shared'."""
    layers = cfg.layer_settings(model)
    encode = CODERS[coder][0]
    entries, sections = [], []
    for key, tensor in model.state_dict().items():
        layer = key.removesuffix(".weight")
        entry = {"name": key, "shape": list(tensor.shape), "kind": "dense"}
        parts = [tensor.detach().float().numpy().astype("<f4").tobytes()]
        if key.endswith(".weight") and layer in layers:
            sparsity, bits = layers[layer]
            mask = prune.magnitude_mask(tensor, sparsity)
            kept = tensor.detach()[mask].float()
            bitmap = np.packbits(mask.numpy().ravel()).tobytes()
            if kind == "sparse":
                entry["kind"] = "sparse"
                parts = [bitmap, kept.numpy().astype("<f4").tobytes()]
            else:
                codebook, indices = _share(kept, bits, cfg.seed)
                # An entropy coder works on whole symbols: give it one byte per index; without one, pack the bits.
                idx = indices.numpy().astype(np.uint8)
                entry.update(kind="shared", bits=bits, kept=int(mask.sum()))
                parts = [
                    encode(bitmap),
                    codebook.numpy().astype("<f4").tobytes(),
                    encode(idx.tobytes()) if coder != "none" else pack_bits(idx, bits),
                ]
        entry["sections"] = [len(p) for p in parts]
        entries.append(entry)
        sections += parts
    return entries, sections


def _write(model: nn.Module, path: Path, kind: str, coder: str, cfg: CompressConfig) -> Path:
    """Write MAGIC, version, header length, JSON header, sections, then a CRC32 of everything before it."""
    entries, sections = _encode(model, kind, coder, cfg)
    header = json.dumps({"kind": kind, "coder": coder, "entries": entries}).encode()
    body = MAGIC + struct.pack("<BI", VERSION, len(header)) + header + b"".join(sections)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with config.atomic_path(path) as tmp:
        tmp.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    return path


def read_header(path: str | Path) -> tuple[dict, bytes]:
    """Return (header, payload) of a compressed file after checking its magic, version and CRC32."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no compressed model at {path}; write one with save_compressed or compress")
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise CompressedFileError(f"{path} is not a LightLab compressed model (it does not start with {MAGIC!r})")
    if len(data) < 13 or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise CompressedFileError(
            f"{path} is corrupted or truncated (CRC32 mismatch): write it again with "
            f"save_compressed; never edit it by hand"
        )
    version, length = struct.unpack_from("<BI", data, 4)
    if version != VERSION:
        raise CompressedFileError(f"{path} has format version {version}; this LightLab reads version {VERSION}")
    return json.loads(data[9 : 9 + length]), data[9 + length : -4]


def _decode(entry: dict, parts: list[bytes], coder: str) -> torch.Tensor:
    shape, decode = entry["shape"], CODERS[coder][1]
    n = int(np.prod(shape))
    if entry["kind"] == "dense":
        return torch.from_numpy(np.frombuffer(parts[0], dtype="<f4").copy()).reshape(shape)
    weight = np.zeros(n, dtype=np.float32)
    if entry["kind"] == "sparse":
        mask = np.unpackbits(np.frombuffer(parts[0], dtype=np.uint8))[:n].astype(bool)
        weight[mask] = np.frombuffer(parts[1], dtype="<f4")
    else:
        mask = np.unpackbits(np.frombuffer(decode(parts[0]), dtype=np.uint8))[:n].astype(bool)
        codebook = np.frombuffer(parts[1], dtype="<f4")
        indices = (
            np.frombuffer(decode(parts[2]), dtype=np.uint8)
            if coder != "none"
            else unpack_bits(parts[2], entry["bits"], entry["kept"])
        )
        weight[mask] = codebook[indices]
    return torch.from_numpy(weight).reshape(shape)


def load_compressed(path: str | Path, architecture: nn.Module | str) -> nn.Module:
    """Return a working model rebuilt from a compressed file: ``architecture`` is a module or a zoo name."""
    header, payload = read_header(path)
    model = zoo.create(architecture) if isinstance(architecture, str) else copy.deepcopy(architecture)
    state, offset = {}, 0
    for entry in header["entries"]:
        parts = []
        for length in entry["sections"]:
            parts.append(payload[offset : offset + length])
            offset += length
        state[entry["name"]] = _decode(entry, parts, header["coder"])
    expected = {k: list(v.shape) for k, v in model.state_dict().items()}
    got = {k: list(v.shape) for k, v in state.items()}
    if expected != got:
        diff = [k for k in sorted(set(expected) | set(got)) if expected.get(k) != got.get(k)]
        raise CompressedFileError(
            f"{path} does not fit {type(model).__name__}: tensors {diff} differ "
            f"(file: {[got.get(k) for k in diff]}, model: {[expected.get(k) for k in diff]}); "
            f"load it into the architecture it was saved from"
        )
    model.load_state_dict(state)
    return model.eval()


# ---- the pipeline and its report ---------------------------------------------------------------------------------


@dataclass
class CompressionResult:
    """The file written, the model restored from it, and a Report of every stage (sizes from real files)."""

    path: Path
    model: nn.Module
    report: Report

    @property
    def size(self) -> int:
        """Return the size in bytes of the deployable file."""
        return self.path.stat().st_size

    @property
    def ratio(self) -> float:
        """Return how many times smaller the file is than the FP32 safetensors file."""
        return self.report.value("coded", "ratio")


def _load_fp32(path: Path, architecture: nn.Module) -> nn.Module:
    from safetensors.torch import load_file

    model = copy.deepcopy(architecture)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _write_stages(
    models: dict[str, nn.Module], path: Path, cfg: CompressConfig, task: Task | None
) -> CompressionResult:
    """Write each stage's model as that stage stores it; report file sizes and the accuracy of the reloaded files."""
    report = Report(environment=environment())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = {"fp32": tmp / "model.safetensors", "pruned": tmp / "pruned.lldc", "quantized": tmp / "quantized.lldc"}
        files["coded"] = Path(path)
        zoo.save(models["fp32"], files["fp32"])
        _write(models["pruned"], files["pruned"], "sparse", "none", cfg)
        _write(models["quantized"], files["quantized"], "shared", "none", cfg)
        _write(models["coded"], files["coded"], "shared", cfg.coder, cfg)
        how = {
            "fp32": "safetensors file of the float32 state_dict",
            "pruned": "file: bitmap of kept weights + their float32 values",
            "quantized": "file: bitmap + float32 codebook + bit-packed indices",
            "coded": f"file: bitmap and indices {cfg.coder}-coded + float32 codebook",
        }
        fp32_bytes = files["fp32"].stat().st_size
        for stage, file in files.items():
            size = file.stat().st_size
            report.add(stage, "size", size, "bytes", f"bytes on disk, {how[stage]}")
            report.add(stage, "ratio", fp32_bytes / size, "x", "FP32 file bytes / this file's bytes")
            if task is not None:
                load = _load_fp32 if stage == "fp32" else load_compressed
                restored = load(file, models["fp32"])
                method = f"test split of {task.name!r}, model restored from this file"
                report.add(stage, "accuracy", 100 * train.evaluate(restored, task), "%", method)
    return CompressionResult(Path(path), load_compressed(path, models["fp32"]), report)


def save_compressed(
    model: nn.Module, cfg: CompressConfig | None = None, *, path: str | Path, task: Task | None = None
) -> CompressionResult:
    """Write ``model`` pruned, k-means shared and entropy-coded to ``path`` (no fine-tuning) and report each stage.

    Weights that are already pruned and shared (the output of ``compress``) are stored exactly. A ``task`` adds the
    accuracy of the model restored from each file.
    """
    cfg = cfg or CompressConfig()
    cfg.layer_settings(model)
    return _write_stages(dict.fromkeys(STAGES, model), path, cfg, task)


def compress(model: nn.Module, cfg: CompressConfig | None = None, *, task: Task, path: str | Path) -> CompressionResult:
    """Run Deep Compression on ``model``: prune + fine-tune, k-means + codebook fine-tune, entropy-code to ``path``."""
    cfg = cfg or CompressConfig()
    cfg.layer_settings(model)
    pruned = _apply(model, cfg, share=False)
    epochs = cfg.n_epochs("pruned")
    tuned = prune.finetune(pruned, task=task, epochs=epochs, lr=cfg.lr) if epochs else pruned
    shared = _apply(tuned, cfg, share=True)
    shared_tuned = finetune_codebooks(shared, cfg, task=task)
    stages = {"fp32": model, "pruned": tuned, "quantized": shared_tuned, "coded": shared_tuned}
    result = _write_stages(stages, path, cfg, task)
    for stage, before in (("pruned", pruned), ("quantized", shared)):
        method = f"test split, before the {cfg.n_epochs(stage)} fine-tuning epoch(s) of this stage"
        result.report.add(stage, "accuracy_before_finetune", 100 * train.evaluate(before, task), "%", method)
    return result


def compare_coders(
    model: nn.Module, cfg: CompressConfig | None = None, *, coders: tuple[str, ...] = tuple(CODERS)
) -> Report:
    """Return the file size of ``model``'s quantized stage under each entropy coder (bytes from real files)."""
    cfg = cfg or CompressConfig()
    report = Report(environment=environment())
    with tempfile.TemporaryDirectory() as tmp:
        for coder in coders:
            size = _write(model, Path(tmp) / f"{coder}.lldc", "shared", coder, cfg).stat().st_size
            report.add(coder, "size", size, "bytes", f"bytes on disk, bitmap and indices coded with {coder!r}")
    return report


def file_contents(path: str | Path) -> list[dict]:
    """Return one row per tensor of a compressed file: name, shape, how it is stored and its bytes."""
    header, _ = read_header(path)
    columns = ("tensor", "shape", "stored as", "bits", "bytes")
    values = [
        (e["name"], "x".join(map(str, e["shape"])), e["kind"], e.get("bits"), sum(e["sections"]))
        for e in header["entries"]
    ]
    return [dict(zip(columns, row, strict=True)) for row in values]

"""Quantization: store weights with fewer bits.

Teaching quantizers you can read in one sitting (k-bit linear with a visible ``scale`` and ``zero_point``,
k-means weight sharing as in Deep Compression), quantization-aware training with a straight-through estimator
(``qat(model, QatConfig(bits=4), task=task)``), and one verb for everything:
``quantize(model, QuantConfig(backend=..., bits=...), task=task)`` (the task calibrates real int8).

``backend="fake"`` rounds the weights to the k-bit grid but keeps them as float32: the model shows the
*accuracy* of k bits, but it is NOT smaller or faster. Real int8 that is smaller and faster comes from
``backend="onnxruntime"`` or ``"torchao"`` (see ``lightlab.techniques.int8``).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader

from lightlab import config
from lightlab.data.tasks import Task
from lightlab.measurement.measure import batch_inputs, count_macs, environment
from lightlab.measurement.report import Report
from lightlab.models.onnx import OnnxModel, export_onnx
from lightlab.techniques import int8
from lightlab.techniques.train import evaluate, fit_

BACKENDS = ("fake", "onnxruntime", "torchao")
SCHEMES = ("symmetric", "asymmetric", "kmeans")
MODES = ("auto", "static", "dynamic")
QUANTIZABLE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _check_bits(bits: int) -> int:
    """Return ``bits`` if it is an integer from 1 to 16, else raise saying why."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(
            f"bits must be an integer from 1 to 16, got {bits!r}: 8 is the usual int8, "
            "4 and 2 show where accuracy breaks, 1 is binary (sign x scale)"
        )
    return bits


def _check_weight(w: torch.Tensor) -> torch.Tensor:
    if not isinstance(w, torch.Tensor) or not w.is_floating_point() or w.numel() == 0:
        raise TypeError(
            f"expected a non-empty floating-point tensor, got {type(w).__name__}"
            f"{f' of dtype {w.dtype}' if isinstance(w, torch.Tensor) else ''}"
        )
    if not torch.isfinite(w).all():
        raise ValueError("the weight holds NaN or inf: quantizing it would hide the problem; fix the model first")
    return w.detach()


def linear_quantize(
    w: torch.Tensor, bits: int, symmetric: bool = True, per_channel: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(q, scale, zero_point)`` with ``w ~= (q - zero_point) * scale`` on a ``bits``-bit integer grid.

    Symmetric: ``q`` in [-(2**(bits-1)-1), 2**(bits-1)-1], ``scale = max|w| / (2**(bits-1)-1)``, zero point 0.
    Asymmetric: ``q`` in [0, 2**bits-1], ``scale = (max-min) / (2**bits-1)``, zero point = the code of 0.0.
    One bit symmetric is binary: ``q = sign(w)`` in {-1, +1} and ``scale = mean|w|`` (XNOR-Net's choice).
    Per channel: one scale and zero point per output channel (dim 0), shaped to broadcast against ``w``.
    """
    w, bits = _check_weight(w), _check_bits(bits)
    dims = tuple(range(1, w.dim())) if per_channel and w.dim() > 1 else tuple(range(w.dim()))
    keep = per_channel and w.dim() > 1

    def reduce(fn, t):
        return fn(t, dim=dims, keepdim=True) if keep else fn(t)

    if symmetric and bits == 1:
        scale = reduce(torch.mean, w.abs())
        q = torch.where(w >= 0, 1, -1).to(torch.int8)
        return q, scale, torch.zeros_like(scale, dtype=torch.int32)
    if symmetric:
        qmin, qmax = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
        scale = _nonzero(reduce(torch.amax, w.abs()) / qmax)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        qmin, qmax = 0, 2**bits - 1
        # The range must contain 0.0 so that zero (padding, ReLU outputs, pruned weights) is exact.
        low, high = reduce(torch.amin, w).clamp(max=0), reduce(torch.amax, w).clamp(min=0)
        scale = _nonzero((high - low) / qmax)
        zero_point = (qmin - torch.round(low / scale)).clamp(qmin, qmax).to(torch.int32)
    q = torch.clamp(torch.round(w / scale) + zero_point, qmin, qmax)
    dtype = (torch.int8 if symmetric else torch.uint8) if bits <= 8 else (torch.int16 if symmetric else torch.int32)
    return q.to(dtype), scale, zero_point  # the smallest integer type that holds a code


def _nonzero(scale: torch.Tensor) -> torch.Tensor:
    """Return ``scale`` with zeros replaced by 1: an all-zero tensor (or channel) is exact on any grid."""
    return torch.where(scale > 0, scale, torch.ones_like(scale))


def dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """Return the float tensor ``(q - zero_point) * scale`` that the integer codes stand for."""
    return (q.to(torch.float32) - zero_point.to(torch.float32)) * scale


def kmeans_quantize(
    weight: torch.Tensor, bits: int, seed: int = 0, iterations: int = 30, max_samples: int = 2**16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(codebook, indices)``: ``2**bits`` shared values and, per weight, the index of its value.

    Deep Compression's weight sharing (Han et al. 2016): centroids start evenly spaced between the smallest and
    largest weight (linear initialisation, which keeps the rare large weights), then Lloyd's iterations move
    each centroid to the mean of its weights. ``weight ~= codebook[indices]``. Indices are uint8 up to 8 bits,
    int32 above. Tensors larger than ``max_samples`` fit the codebook on a random sample drawn with ``seed``.
    """
    w, bits = _check_weight(weight), _check_bits(bits)
    flat = w.flatten().to(torch.float32)
    sample = flat
    if flat.numel() > max_samples:
        generator = torch.Generator().manual_seed(seed)
        sample = flat[torch.randperm(flat.numel(), generator=generator)[:max_samples]]
    codebook = torch.linspace(flat.min().item(), flat.max().item(), 2**bits)  # the extremes, not the sample's
    for _ in range(iterations):
        labels = _nearest(sample, codebook)
        sums = torch.zeros_like(codebook).index_add_(0, labels, sample)
        counts = torch.zeros_like(codebook).index_add_(0, labels, torch.ones_like(sample))
        # An empty cluster keeps its centroid, which neighbours may pass: sorting keeps the order _nearest needs.
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), codebook).sort().values
        if torch.equal(updated, codebook):
            break
        codebook = updated
    indices = _nearest(flat, codebook).reshape(w.shape)
    return codebook, indices.to(torch.uint8 if bits <= 8 else torch.int32)


def _nearest(values: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Return the index of the nearest (sorted, 1-D) centroid for each value, via the midpoints between them."""
    midpoints = (codebook[1:] + codebook[:-1]) / 2
    return torch.bucketize(values, midpoints)


@dataclass(frozen=True)
class QuantConfig:
    """How to quantize: the backend, the bit width, the scheme and (for static int8) calibration data.

    - ``backend``: "fake" (weights rounded to the grid, still float32: NOT smaller), "onnxruntime" (real int8,
      an exported .onnx file) or "torchao" (real int8 inside PyTorch; Linear layers only).
    - ``scheme``: "symmetric", "asymmetric" (linear grids) or "kmeans" (shared values, fake backend only).
    - ``per_channel``: one scale per output channel; None means the scheme's usual choice (per channel for
      linear grids, one codebook per layer for k-means).
    - ``mode`` (onnxruntime): "static" quantizes activations with ranges calibrated on real inputs (fast for
      CNNs), "dynamic" measures activation ranges at run time (for Linear-heavy models), "auto" picks static
      when the model has convolutions.
    - ``calibration``: a Task, DataLoader or input tensor (None: the ``task`` or ``example`` given to ``quantize``);
      ``calibration_size`` inputs are used.
    - ``compile`` (torchao): ``torch.compile`` the result; only compiled torchao int8 is fast (costs ~20 s once).
    - ``skip_unsupported``: leave layers the backend cannot quantize in float32 instead of raising.
    """

    backend: str = "fake"
    bits: int = 8
    scheme: str = "symmetric"
    per_channel: bool | None = None
    mode: str = "auto"
    calibration: Task | DataLoader | torch.Tensor | None = None
    calibration_size: int = 320
    compile: bool = False
    skip_unsupported: bool = False

    def __post_init__(self) -> None:
        for field, value, allowed in (("backend", self.backend, BACKENDS), ("scheme", self.scheme, SCHEMES),
                                      ("mode", self.mode, MODES)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(map(repr, allowed))}")
        _check_bits(self.bits)
        if self.scheme == "kmeans" and self.per_channel:
            raise ValueError("k-means shares one codebook per layer (Deep Compression): per_channel=True does "
                             "not apply; leave per_channel unset")  # fmt: skip
        if self.backend != "fake" and self.bits != 8:
            raise ValueError(
                f"backend {self.backend!r} runs real int8 only, so bits must be 8 (got {self.bits}); "
                "use backend='fake' to study the accuracy of other bit widths"
            )
        if self.backend != "fake" and self.scheme == "kmeans":
            raise ValueError(
                f"backend {self.backend!r} has no k-means kernels: k-means codes are stored compactly "
                "(see lightlab.compress) but run as float; use backend='fake' for scheme='kmeans'"
            )
        if self.calibration_size < 1:
            raise ValueError(f"calibration_size must be >= 1 (inputs used to calibrate), got {self.calibration_size}")

    @property
    def channelwise(self) -> bool:
        """Return whether grids are per output channel: ``per_channel``, or the scheme's usual choice when None."""
        return self.scheme != "kmeans" if self.per_channel is None else bool(self.per_channel)

    @property
    def grid_label(self) -> str:
        """Return the grid in words, e.g. 'symmetric, per-channel' or 'one codebook per layer'."""
        if self.scheme == "kmeans":
            return "one codebook per layer"
        return f"{self.scheme}, {'per-channel' if self.channelwise else 'per-tensor'}"


def quantize_weight(w: torch.Tensor, cfg: QuantConfig) -> torch.Tensor:
    """Return ``w`` rounded to the grid (or codebook) that ``cfg`` describes, as float32 (a round trip)."""
    if cfg.scheme == "kmeans":
        codebook, indices = kmeans_quantize(w, cfg.bits)
        return codebook[indices.long()]
    q, scale, zero_point = linear_quantize(w, cfg.bits, cfg.scheme == "symmetric", cfg.channelwise)
    return dequantize(q, scale, zero_point)


def quantizable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Return ``(name, layer)`` for every Linear and Conv layer (warning of other weighted layers), or raise if none."""
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, QUANTIZABLE)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no Linear or Conv layer to quantize")
    if others := int8.unsupported_layers(model, int8.ORT_SUPPORTED):  # e.g. a GRU: say so, never round in silence
        warnings.warn(
            f"{', '.join(others)} keep float32 weights: only Linear and Conv layers are rounded", stacklevel=3
        )
    return layers


def fake_quantize(model: nn.Module, cfg: QuantConfig | None = None) -> nn.Module:
    """Return a copy of ``model`` whose Linear/Conv weights are rounded to the k-bit grid, still float32.

    This shows the *accuracy* of k-bit weights. The copy is NOT smaller or faster: every weight is still a
    4-byte float that happens to take one of 2**bits values. Biases stay float, as in integer kernels.
    """
    cfg = cfg or QuantConfig()
    new = copy.deepcopy(model).eval()
    with torch.no_grad():
        for _name, layer in quantizable_layers(new):
            layer.weight.copy_(quantize_weight(layer.weight, cfg))
    return new


def quantize(
    model: nn.Module, cfg: QuantConfig | None = None, *, task: Task | None = None, example: torch.Tensor | None = None
) -> nn.Module:
    """Return a quantized copy of ``model``: fake (float, rounded), ONNX Runtime int8 or torchao int8.

    Real int8 calibrates on ``cfg.calibration``, or else on ``task``'s train inputs or ``example``.
    """
    cfg = cfg or QuantConfig()
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize expects an nn.Module, got {type(model).__name__}")
    if cfg.backend == "fake":
        return fake_quantize(model, cfg)
    if cfg.calibration is None:
        cfg = replace(cfg, calibration=task if task is not None else example)
    return int8.onnxruntime_int8(model, cfg) if cfg.backend == "onnxruntime" else int8.torchao_int8(model, cfg)


@dataclass(frozen=True)
class QatConfig:
    """Quantization-aware training: the grid the weights learn to live on, and the fine-tuning budget."""

    bits: int = 4
    scheme: str = "symmetric"  # a linear grid: "symmetric" or "asymmetric"
    per_channel: bool = True
    epochs: int | None = None  # None: 20 (quick mode: 10)
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.scheme == "kmeans":
            raise ValueError(
                "scheme='kmeans' does not apply: qat trains on linear grids ('symmetric' or 'asymmetric'); "
                "k-means fine-tuning updates the shared centroids instead (ll.compress)"
            )
        _ = self.grid  # validates bits, scheme and per_channel with QuantConfig's messages
        if self.epochs is not None and not (type(self.epochs) is int and self.epochs >= 1):
            raise ValueError(f"epochs must be None (20, quick mode 10) or a whole number >= 1, got {self.epochs!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0 (Adam's learning rate), got {self.lr!r}")

    @property
    def grid(self) -> QuantConfig:
        """Return the fake-quantization grid the weights train on."""
        return QuantConfig(bits=self.bits, scheme=self.scheme, per_channel=self.per_channel)

    @property
    def n_epochs(self) -> int:
        """Return the number of epochs to train (the quick-mode default when ``epochs`` is None)."""
        return config.epochs(self.epochs, 20, 10)


class _StraightThrough(nn.Module):
    """A parametrization: the forward pass sees quantized weights, the gradient flows as if it did not."""

    def __init__(self, grid: QuantConfig):
        super().__init__()
        self.grid = grid

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        # Rounding has a zero gradient almost everywhere; the straight-through estimator passes it as identity.
        return w + (quantize_weight(w, self.grid) - w).detach()


def qat(model: nn.Module, cfg: QatConfig | None = None, *, task: Task, progress: bool = False) -> nn.Module:
    """Return a copy of ``model`` fine-tuned with quantized weights in the loop (straight-through estimator).

    The result holds weights on ``cfg``'s grid (a fake-quantized float model, like ``fake_quantize``).
    """
    cfg = cfg or QatConfig()
    new = copy.deepcopy(model)
    layers = quantizable_layers(new)
    for _name, layer in layers:
        parametrize.register_parametrization(layer, "weight", _StraightThrough(cfg.grid))
    fit_(new, task, epochs=cfg.n_epochs, lr=cfg.lr, seed=cfg.seed, progress=progress)
    for _name, layer in layers:
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return new.eval()


SWEEP_SCHEMES = {
    "linear per-tensor": QuantConfig(per_channel=False),
    "linear per-channel": QuantConfig(per_channel=True),
    "k-means": QuantConfig(scheme="kmeans"),
}


def bit_sweep(
    model: nn.Module, *, task: Task, bits: tuple[int, ...] | None = None, schemes: dict[str, QuantConfig] | None = None
) -> Report:
    """Return test accuracy of fake-quantized copies of ``model`` for each scheme and bit width.

    Rows: ``fp32/accuracy`` and ``{scheme}/accuracy_{b}bit``; ``schemes`` maps a label to a QuantConfig
    whose ``bits`` is replaced by each width (default: linear per-tensor, linear per-channel, k-means).
    """
    bits = bits or tuple(config.pick((8, 6, 5, 4, 3, 2, 1), (8, 4, 3, 2, 1)))
    schemes = schemes or SWEEP_SCHEMES
    report = Report(environment=environment())
    report.add("fp32", "accuracy", 100 * evaluate(model, task, metric="accuracy"), "%", f"test split of {task.name!r}")
    for label, cfg in schemes.items():
        method = f"fake-quantized Linear/Conv weights ({cfg.grid_label}), test split of {task.name!r}"
        for b in bits:
            accuracy = evaluate(fake_quantize(model, replace(cfg, bits=b)), task, metric="accuracy")
            report.add(label, f"accuracy_{b}bit", 100 * accuracy, "%", method)
    return report


def ptq_vs_qat(model: nn.Module, cfg: QatConfig | None = None, *, task: Task, bits: tuple[int, ...] = (4, 2)) -> Report:
    """Return test accuracy of FP32, post-training quantization and quantization-aware training per bit width.

    ``cfg`` sets the grid and the training of QAT; its ``bits`` is replaced by each width.
    """
    cfg = cfg or QatConfig()
    report = Report(environment=environment())
    report.add("fp32", "accuracy", 100 * evaluate(model, task, metric="accuracy"), "%", f"test split of {task.name!r}")
    for b in bits:
        ptq = fake_quantize(model, replace(cfg, bits=b).grid)
        method = f"weights rounded after training ({cfg.grid.grid_label}), test split of {task.name!r}"
        report.add(f"PTQ {b}-bit", "accuracy", 100 * evaluate(ptq, task, metric="accuracy"), "%", method)
        trained = qat(model, replace(cfg, bits=b), task=task)
        method = f"fine-tuned with {b}-bit weights in the loop (straight-through estimator), test split"
        report.add(f"QAT {b}-bit", "accuracy", 100 * evaluate(trained, task, metric="accuracy"), "%", method)
    return report


def compare_backends(
    model: nn.Module,
    *,
    task: Task | None = None,
    example: torch.Tensor | None = None,
    batch: int = 64,
    compile: bool = False,
    repeats: int | None = None,
) -> Report:
    """Return a Report on torch FP32, ONNX Runtime FP32 and int8, torchao int8 eager (and compiled if asked).

    A ``task`` adds accuracy and calibrates on its train split; an ``example`` tensor calibrates on itself. ONNX
    Runtime int8 is static for models with convolutions, else dynamic; torchao quantizes only the Linear layers
    (convolutions stay float32, noted in the rows). Timing: ``ll.int8.benchmark``.
    """
    reference = copy.deepcopy(model).eval()
    one = batch_inputs(task, example, 1)
    mode = "static" if any(isinstance(m, int8.CONV) for m in reference.modules()) else "dynamic"
    exported = export_onnx(reference, one)
    calibration = task if task is not None else example
    torchao = QuantConfig(backend="torchao", skip_unsupported=True)
    models = {
        "torch fp32": reference,
        "onnxruntime fp32": OnnxModel(exported, macs_per_sample=count_macs(reference, one)),
        f"onnxruntime int8 ({mode})": int8.onnxruntime_int8(
            reference, QuantConfig(backend="onnxruntime", calibration=calibration), exported
        ),
        "torchao int8 eager": int8.torchao_int8(reference, torchao),
    }
    if compile:
        models["torchao int8 compiled"] = int8.torchao_int8(reference, replace(torchao, compile=True))
    report = int8.benchmark(models, task=task, example=example, batch=batch, repeats=repeats)
    float_layers = int8.unsupported_layers(reference, (nn.Linear,))
    for row in report.rows:
        if row["model"].startswith("torchao") and float_layers:
            kept = f"{', '.join(float_layers)} stay float32 (torchao int8 handles Linear only)"
            row["note"] = "; ".join(filter(None, (row.get("note"), kept)))
    return report

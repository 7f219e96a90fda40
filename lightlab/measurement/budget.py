"""Device budgets: does a model fit a microcontroller, a smartwatch or a phone?

``fits(model, example, device)`` compares what a model needs with what a device has:

- **flash** (storage): the bytes of the model's real serialized file, the .onnx file of an ONNX Runtime model
  (int8 or float) or ``torch.save(state_dict)`` of a PyTorch one. A microcontroller also stores a runtime
  (e.g. TensorFlow Lite Micro) and the application beside it: that is not counted.
- **RAM**: an *estimate*, at batch 1, of the most activation bytes alive at once, each value counted at the
  precision it is stored in (4 bytes float32, 1 byte int8). Operator by operator, a tensor lives from the operator
  that writes it to the last one that reads it: each operator's input and output, and any tensor a later operator
  still needs (a residual block holds its input while its branch computes). A PyTorch model is walked through
  ``torch.export``'s graph (a view such as Flatten costs nothing), or module by module with forward hooks if it
  cannot be exported; an ONNX Runtime model through its graph as ONNX Runtime runs it (int8: each ReLU folded into
  the layer before it, quantize/dequantize steps into their neighbours). A microcontroller runs its weights from
  flash, so RAM holds the activations only; a watch or a phone loads the weights into RAM too, so they are added.
  Scratch buffers, the runtime, the operating system and the rest of the application are not counted: a model
  that uses most of a budget does not fit in practice.

The walk is one function, ``alive`` (which tensors are alive at each step), over the operators of the graph;
``exported_steps`` gives torch.export's operators as ``Step``s. ``ll.arena`` (notebook 24) builds on both: lifetimes,
in-place operators, execution orders and the addresses of a microcontroller's tensor arena.

``DEVICE_BUDGETS`` holds one well-known device of each class. Measuring models and their int8 copies against a
device is ``ll.device_survey``; the bars and the device picker are ``ll.views.budget``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from math import prod

import numpy as np
import torch
from torch import nn

from lightlab import config
from lightlab.measurement import measure
from lightlab.measurement.measure import file_size
from lightlab.measurement.report import Report

KB, MB, GB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Device:
    """A device class: its RAM and flash (storage) in bytes, whether weights load into RAM, and the source."""

    name: str
    ram: int
    flash: int
    weights_in_ram: bool  # False on microcontrollers: the weights are read from flash where they are stored
    source: str

    def __post_init__(self) -> None:
        if self.ram <= 0 or self.flash <= 0:
            raise ValueError(
                f"device {self.name!r} needs ram and flash in bytes, both > 0; got ram={self.ram}, "
                f"flash={self.flash} (e.g. ram=256 * budget.KB, flash=budget.MB)"
            )


# Vendors' published figures for one well-known device of each class (whole device: nothing reserved for the OS).
DEVICE_BUDGETS = {
    d.name: d
    for d in [
        Device(
            "Arduino Uno (ATmega328P)",
            2 * KB,
            32 * KB,
            False,
            "Microchip ATmega328P datasheet: 8-bit AVR, 16 MHz, 2 KB SRAM, 32 KB flash",
        ),
        Device(
            "MCU (nRF52840)",
            256 * KB,
            1 * MB,
            False,
            "Nordic nRF52840 product specification: Cortex-M4F, 64 MHz, 256 KB RAM, 1 MB flash "
            "(the chip of the Arduino Nano 33 BLE Sense used in TinyML courses)",
        ),
        Device(
            "MCU (STM32L4R5)",
            640 * KB,
            2 * MB,
            False,
            "ST STM32L4R5ZI datasheet: Cortex-M4F, 120 MHz, 640 KB SRAM, 2 MB flash "
            "(its Nucleo board is the MLPerf Tiny reference platform)",
        ),
        Device(
            "smartwatch (Galaxy Watch4)",
            int(1.5 * GB),
            16 * GB,
            True,
            "Samsung Galaxy Watch4 (2021): Exynos W920, 2x Cortex-A55 1.18 GHz, 1.5 GB RAM, 16 GB storage, "
            "shared with Wear OS and the other apps",
        ),
        Device(
            "phone (Pixel 8)",
            8 * GB,
            128 * GB,
            True,
            "Google Pixel 8 (2023): Tensor G3, 8 GB RAM, 128 GB storage (base model), shared with Android and "
            "the other apps",
        ),
    ]
}


def lookup(device: str | Device) -> Device:
    """Return the Device called ``device`` (a Device passes through), or raise listing the known ones."""
    return config.preset(device, DEVICE_BUDGETS, Device, "pass your own ll.budget.Device")


def format_bytes(n: float) -> str:
    """Return ``n`` bytes in the unit that reads best (B, KB, MB, GB; 1 KB = 1024 B)."""
    for unit, size in (("GB", GB), ("MB", MB), ("KB", KB)):
        if abs(n) >= size:
            value = n / size  # 3 significant digits, never in e-notation (1,020 KB, not 1.02e+03 KB)
            return f"{value:.3g} {unit}" if abs(value) < 1000 else f"{value:,.0f} {unit}"
    return f"{n:.0f} B"


def activation_bytes(model: nn.Module, example: torch.Tensor) -> int:
    """Return the most activation bytes alive at once at batch 1 (an estimate; ``ram_estimate`` says how)."""
    return ram_estimate(model, example)[0]


def ram_estimate(model: nn.Module, example: torch.Tensor) -> tuple[int, str]:
    """Return (the most activation bytes alive at once at batch 1, how they were found)."""
    if getattr(model, "onnx_bytes", None) is not None:  # an ONNX Runtime model (ll.onnx.OnnxModel), duck-typed
        return _onnx_activation_bytes(model.onnx_bytes), f"{ALIVE} over the operators of the .onnx graph"
    traced = _exported_activation_bytes(model, example[:1])
    if traced is not None:
        return traced, f"{ALIVE} over the operators of torch.export's graph (a view such as Flatten costs nothing)"
    # measure.peak_memory = weights + largest layer input+output; the weights are counted apart (flash).
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values() if hasattr(t, "numel"))
    how = "largest input+output of one layer over the PyTorch modules (forward hooks; torch.export failed)"
    return measure.peak_memory(model, example[:1]) - weights, how


ONNX_VIEWS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")
ALIVE = "largest set of activations alive at once (a skip connection's input included)"


# ATen operators whose output is a view of their input: no new memory.
VIEWS = {"view", "_unsafe_view", "reshape", "flatten", "squeeze", "unsqueeze", "permute", "t", "transpose", "expand",
         "alias", "detach", "slice", "select", "contiguous"}  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One operator of a graph: the tensor it writes (named as the operator), what kind of operator it is, the
    activations it reads (weights stay in flash and are not listed), and its output's shape and bytes per value."""

    name: str
    kind: str
    reads: tuple[str, ...]
    shape: tuple[int, ...]
    itemsize: int  # 0 for an output that is not a tensor (a tuple a later step picks from)
    module: str = ""  # the path of the nn.Module that ran it ("1.expand.0"), when the graph says

    @property
    def nbytes(self) -> int:
        """Return the bytes of the tensor this step writes, at its stored precision."""
        return prod(self.shape) * self.itemsize


def alive(steps: Sequence[Collection[str]], outputs: Collection[str] = ()) -> list[set[str]]:
    """Return, step by step, the tensors alive while the step runs: those it reads or writes, and every tensor a
    later step (or the model's output) still needs. A tensor lives from the step that writes it to its last reader,
    so a skip connection's input stays alive across the whole branch."""
    last = {name: i for i, names in enumerate(steps) for name in names}
    last.update({name: len(steps) for name in outputs})
    live, out = set(), []
    for i, names in enumerate(steps):
        live |= set(names)
        out.append(set(live))
        live = {n for n in live if last[n] > i}
    return out


def _kind(node) -> str:
    """Return an exported node's operator name, in-place suffix dropped (relu_ is a relu); a convolution with one
    filter per channel is "depthwise_conv2d"."""
    kind = getattr(getattr(node.target, "_overloadpacket", None), "__name__", node.op).rstrip("_")
    if kind in ("conv2d", "convolution"):
        at = 6 if kind == "conv2d" else 8  # conv2d(x, w, b, stride, padding, dilation, groups); convolution: 8
        groups = node.args[at] if len(node.args) > at else node.kwargs.get("groups", 1)
        x, y = getattr(node.args[0], "meta", {}).get("val"), node.meta.get("val")
        if groups > 1 and x is not None and y is not None and groups == x.shape[1] == y.shape[1]:
            return "depthwise_conv2d"
    return kind


def exported_steps(model: nn.Module, example: torch.Tensor) -> tuple[list[Step], tuple[str, ...]] | None:
    """Return the operators of ``torch.export``'s graph of ``model`` on ``example`` as Steps in execution order (the
    model input first; a view such as Flatten is no step: its readers read the tensor it shows) and the names of the
    output tensors, or None if the model cannot be exported."""
    try:
        program = torch.export.export(model.eval(), (example,))
    except Exception:  # noqa: BLE001 - data-dependent control flow, unsupported modules: fall back to the hooks
        return None
    signature = program.graph_signature
    weights = {*signature.inputs_to_parameters, *signature.inputs_to_buffers}
    weights |= set(getattr(signature, "inputs_to_lifted_tensor_constants", {}))
    nodes = [n for n in program.graph.nodes if n.op in ("placeholder", "call_function") and n.name not in weights]
    base = {}  # a view's memory is its input's
    for n in nodes:
        op = getattr(getattr(n.target, "_overloadpacket", None), "__name__", "")
        base[n] = base[n.args[0]] if op in VIEWS and n.args and n.args[0] in base else n
    steps = []
    for n in nodes:
        if base[n] is not n:
            continue
        value = n.meta.get("val")
        tensor = isinstance(value, torch.Tensor)
        reads = tuple(dict.fromkeys(base[s].name for s in n.all_input_nodes if s in base))
        kind = "input" if n.op == "placeholder" else _kind(n)
        shape = tuple(value.shape) if tensor else ()
        stack = list((n.meta.get("nn_module_stack") or {}).values())
        module = stack[-1][0] if stack and isinstance(stack[-1], tuple) else ""
        steps.append(Step(n.name, kind, reads, shape, value.element_size() if tensor else 0, module))
    outputs = tuple(dict.fromkeys(base[o].name for o in program.graph.output_node().all_input_nodes if o in base))
    return steps, outputs


def _exported_activation_bytes(model: nn.Module, example: torch.Tensor) -> int | None:
    """Return the largest bytes of activations alive at once, operator by operator through ``torch.export``'s graph
    (a tensor lives until its last reader, so a skip connection counts), or None if the model cannot be exported."""
    found = exported_steps(model, example)
    if found is None:
        return None
    steps, outputs = found
    size = {s.name: s.nbytes for s in steps}
    return max(sum(size[n] for n in live) for live in alive([{*s.reads, s.name} for s in steps], outputs))


def _onnx_activation_bytes(onnx_bytes: bytes) -> int:
    """Return the largest bytes of activations alive at once in the .onnx graph, operator by operator as ONNX Runtime
    runs it: each operator's inputs and outputs, and every tensor a later operator still needs (a skip connection)."""
    import onnx

    graph = onnx.shape_inference.infer_shapes(onnx.load_from_string(onnx_bytes)).graph
    types = {v.name: v.type.tensor_type for v in (*graph.value_info, *graph.input, *graph.output)}
    constants, inputs = {t.name for t in graph.initializer}, {v.name for v in graph.input}
    # ONNX Runtime fuses DequantizeLinear -> operator -> QuantizeLinear into one int8 operator (QLinearConv...):
    # between operators a float tensor then lives as its int8 twin. Only the input's quantization runs by itself.
    # A Reshape, Flatten, Squeeze or Unsqueeze output shares its input's memory, as a view does in PyTorch.
    same = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            same[node.output[0]] = node.input[0]
        elif node.op_type == "QuantizeLinear" and node.input[0] not in inputs:
            same[node.input[0]] = node.output[0]
        elif node.op_type in ONNX_VIEWS:
            same[node.output[0]] = node.input[0]

    def twin(name: str) -> str:
        while name in same:
            name = same[name]
        return name

    def nbytes(name: str) -> int:
        t = types[name]
        values = prod(d.dim_value or 1 for d in t.shape.dim)  # the symbolic batch dimension counts as 1
        return values * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)).itemsize

    steps = [  # what each operator reads and writes; weights (constants) stay in flash
        {twin(n) for n in (*node.input, *node.output) if n} - constants
        for node in graph.node
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear", *ONNX_VIEWS) or node.input[0] in inputs
    ]
    # A skip connection keeps its input alive across the whole residual branch, beside what the branch computes.
    outputs = {twin(o.name) for o in graph.output}
    return max(sum(nbytes(n) for n in live) for live in alive(steps, outputs))


@dataclass
class Fit:
    """What a model needs on a device against what the device has (bytes), and how each need was obtained."""

    model: str
    device: Device
    precision: str
    flash_used: int
    ram_used: int
    flash_method: str
    ram_method: str

    @property
    def fits_flash(self) -> bool:
        """Return True when the model file fits the device's flash."""
        return self.flash_used <= self.device.flash

    @property
    def fits_ram(self) -> bool:
        """Return True when the RAM estimate fits the device's RAM."""
        return self.ram_used <= self.device.ram

    @property
    def ok(self) -> bool:
        """Return True when both flash and RAM fit."""
        return self.fits_flash and self.fits_ram

    @property
    def message(self) -> str:
        """Return one sentence: it fits, or what does not fit and by how much."""
        parts = []
        for what, used, have in (
            ("flash", self.flash_used, self.device.flash),
            ("RAM", self.ram_used, self.device.ram),
        ):
            verdict = f"over by {format_bytes(used - have)}" if used > have else f"{100 * used / have:.2g} % used"
            parts.append(f"{what} {format_bytes(used)} of {format_bytes(have)} ({verdict})")
        head = "fits" if self.ok else "does NOT fit"
        return f"{self.model} ({self.precision}) {head} {self.device.name}: {'; '.join(parts)}"

    def report(self) -> Report:
        """Return the needs and the budgets as Report rows (bytes), each with its method."""
        label, source = f"{self.model} on {self.device.name}", f"device budget: {self.device.source}"
        return (
            Report()
            .add(label, "flash_used", self.flash_used, "bytes", self.flash_method)
            .add(label, "flash_available", self.device.flash, "bytes", source)
            .add(label, "ram_used", self.ram_used, "bytes", self.ram_method)
            .add(label, "ram_available", self.device.ram, "bytes", source)
        )


def fits(model: nn.Module, example: torch.Tensor, device: str | Device, name: str | None = None) -> Fit:
    """Return a Fit: ``model``'s file size and RAM estimate (batch 1) against ``device``'s flash and RAM."""
    target = lookup(device)
    try:
        with torch.inference_mode():
            model.eval()(example[:1])
    except Exception as err:  # PyTorch raises RuntimeError, ONNX Runtime exception types of its own
        raise ValueError(
            f"the model does not accept inputs of shape {list(example.shape[1:])} "
            f"(batch first): pass an example batch of its task. (It said: {err})"
        ) from err
    flash, how = file_size(model)
    precision = getattr(model, "precision", "fp32")
    ram, walk = ram_estimate(model, example)
    ram_method = f"estimate: {walk}, at batch 1, each value at its stored size (float32 4 bytes, int8 1 byte)"
    if target.weights_in_ram:
        ram, ram_method = ram + flash, ram_method + " + the weights file, loaded into RAM"
    return Fit(name or type(model).__name__, target, precision, flash, ram, how, ram_method)

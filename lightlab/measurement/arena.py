"""The tensor arena of a microcontroller: which activations are alive when, the peak, and where each one goes.

On a microcontroller the weights stay in flash; the activations live in one block of SRAM that the runtime plans
before the first inference (TensorFlow Lite Micro calls it the *tensor arena*). What it must hold is the largest set
of tensors alive at once (plus scratch), not the sum of all activations: a tensor lives from the operator that
writes it to the last one that reads it, so a skip connection keeps its input alive across the whole branch.

- ``graph(model, example)``: the operators of ``torch.export``'s graph (``budget.exported_steps``, views are free);
  ``from_dicts`` builds one by hand;
- ``live_bytes``, ``peak_bytes``, ``buffers``: the liveness walk of ``budget.alive`` (the one the device budget
  uses), at any precision (``itemsize=1``: int8 activations);
- ``plan``: an address for every buffer, TFLM's greedy-by-size planner by default; the arena it needs is never
  below the peak;
- ``inplace=True``: an elementwise operator (ReLU, add...) writes over an input that dies there, and a depthwise
  convolution works channel by channel over its input with a one-channel scratch buffer (MCUNet's TinyEngine);
- ``orders`` and ``order_search``: every execution order a graph allows, and the peak of each (operator
  reordering, Liberis and Lane 2019).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from lightlab.measurement.budget import KB, MB, Device, Step, alive, exported_steps, format_bytes
from lightlab.measurement.report import Report

# MCUNet's board (Lin et al. 2020, "MCUNet: Tiny Deep Learning on IoT Devices"), beside budget.DEVICE_BUDGETS.
STM32F746 = Device(
    "MCU (STM32F746)",
    320 * KB,
    1 * MB,
    False,
    "ST STM32F746NG datasheet: Cortex-M7, 216 MHz, 320 KB SRAM, 1 MB flash (the board MCUNet and MCUNetV2 run on)",
)

# Elementwise operators that can write their output over an input that is not read again.
ELEMENTWISE = {"relu", "hardtanh", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "hardswish", "hardsigmoid",
               "clamp", "add", "sub", "mul", "div", "dropout"}  # fmt: skip
PLANNERS = ("greedy", "first_fit", "linear")


@dataclass(frozen=True)
class Graph:
    """A model's operators in execution order (each writes one tensor named after it) and its output tensors."""

    steps: tuple[Step, ...]
    outputs: tuple[str, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for s in self.steps:
            early = [r for r in s.reads if r not in seen]
            if early:
                raise ValueError(
                    f"step {s.name!r} reads {early} before any step writes them: list the steps in an order where "
                    "every tensor is written before it is read (a topological order; see arena.orders)"
                )
            if s.name in seen:
                raise ValueError(f"two steps write {s.name!r}: every step must write a tensor of its own")
            seen.add(s.name)
        if set(self.outputs) - seen:
            raise ValueError(f"outputs {sorted(set(self.outputs) - seen)} are written by no step")

    @property
    def names(self) -> tuple[str, ...]:
        """Return the steps' names in execution order."""
        return tuple(s.name for s in self.steps)

    def sizes(self, itemsize: int | None = None) -> dict[str, int]:
        """Return each tensor's bytes, at ``itemsize`` bytes per value (default: the precision it was traced at)."""
        return {
            s.name: s.nbytes if itemsize is None or not s.itemsize else itemsize * s.nbytes // s.itemsize
            for s in self.steps
        }

    def consumers(self) -> dict[str, tuple[str, ...]]:
        """Return, for each tensor, the steps that read it (in execution order)."""
        out: dict[str, list[str]] = {s.name: [] for s in self.steps}
        for s in self.steps:
            for r in s.reads:
                out[r].append(s.name)
        return {name: tuple(readers) for name, readers in out.items()}

    def reorder(self, order: Sequence[str]) -> Graph:
        """Return the same graph run in ``order`` (a permutation of the step names that writes before it reads)."""
        if sorted(order) != sorted(self.names):
            raise ValueError(f"an order must list every step exactly once: {sorted(self.names)}; got {list(order)}")
        by_name = {s.name: s for s in self.steps}
        return Graph(tuple(by_name[n] for n in order), self.outputs)


def graph(model: nn.Module, example: torch.Tensor) -> Graph:
    """Return the Graph of ``model`` at batch 1, from ``torch.export``'s graph (weights excluded, views free)."""
    found = exported_steps(model, example[:1])
    if found is None:
        raise ValueError(
            f"torch.export could not trace {type(model).__name__} on an input of shape {list(example.shape)}: "
            "data-dependent control flow or an unsupported operator; check that model(example) runs, then simplify "
            "its forward (no Python branch on tensor values)"
        )
    return Graph(tuple(found[0]), found[1])


def from_dicts(order: Sequence[str], sizes: Mapping[str, int], consumers: Mapping[str, Sequence[str]]) -> Graph:
    """Return a Graph from an execution order, each tensor's bytes and each tensor's readers (an output has none)."""
    missing = [n for n in order if n not in sizes or n not in consumers]
    if missing:
        raise ValueError(f"sizes and consumers need an entry for every step; missing for {missing}")
    reads: dict[str, list[str]] = {n: [] for n in order}
    for tensor in order:
        for reader in consumers[tensor]:
            if reader not in reads:
                raise ValueError(f"{tensor!r} is read by {reader!r}, which is not a step of the order")
            reads[reader].append(tensor)
    steps = tuple(Step(n, "op", tuple(reads[n]), (int(sizes[n]),), 1) for n in order)
    return Graph(steps, tuple(n for n in order if not consumers[n]))


@dataclass(frozen=True)
class Buffer:
    """One region of the arena: the tensors that share it (in-place results), its bytes (those of the largest), and
    the first and last step it is alive."""

    name: str
    tensors: tuple[str, ...]
    size: int
    first: int
    last: int


@dataclass
class _Walk:
    root: dict[str, str]  # tensor -> the buffer it lives in
    size: dict[str, int]  # buffer -> bytes
    live: list[set[str]]  # step -> buffers alive while it runs


def _target(step: Step, i: int, walk: _Walk, members: dict, last: dict, size: dict) -> tuple[str | None, int]:
    """Return the buffer ``step`` may write over (or None) and the scratch bytes it then needs."""
    kind, candidates = step.kind, step.reads[:1] if step.kind in ("copy", "pad", "depthwise_conv2d") else step.reads
    if kind not in ELEMENTWISE | {"copy", "pad", "depthwise_conv2d"}:
        return None, 0
    for tensor in candidates:
        buffer = walk.root[tensor]
        if kind != "copy" and any(last.get(m, -1) > i for m in members[buffer]):
            continue  # a later step still reads what this buffer holds
        if kind in ELEMENTWISE and size[step.name] > walk.size[buffer]:
            continue  # a broadcast result larger than the input cannot overwrite it
        if kind == "depthwise_conv2d":
            if size[step.name] > walk.size[buffer]:
                continue
            # Channel by channel: each output channel goes to a scratch buffer, then over its input channel.
            return buffer, size[step.name] // max(1, step.shape[1])
        return buffer, 0
    return None, 0


def _walk(g: Graph, itemsize: int | None, inplace: bool) -> _Walk:
    size = g.sizes(itemsize)
    last = {r: i for i, s in enumerate(g.steps) for r in s.reads}
    last.update({o: len(g.steps) for o in g.outputs})
    walk, members, steps = _Walk({}, {}, []), {}, []
    for i, s in enumerate(g.steps):
        # A copy into a slice of a buffer (patch outputs written into the stage output) writes into that buffer.
        buffer, scratch = _target(s, i, walk, members, last, size) if inplace or s.kind == "copy" else (None, 0)
        if buffer is None:
            buffer = s.name
            walk.size[buffer], members[buffer] = size[s.name], []
        walk.root[s.name] = buffer
        members[buffer].append(s.name)
        walk.size[buffer] = max(walk.size[buffer], size[s.name])
        names = {walk.root[r] for r in s.reads} | {buffer}
        if scratch:
            walk.size[f"{s.name}.scratch"] = scratch
            names.add(f"{s.name}.scratch")
        steps.append(names)
    walk.live = alive(steps, {walk.root[o] for o in g.outputs})
    return walk


def live_bytes(g: Graph, itemsize: int | None = None, inplace: bool = False) -> list[int]:
    """Return the bytes alive while each step runs (its inputs, its output, and everything still needed later)."""
    walk = _walk(g, itemsize, inplace)
    return [sum(walk.size[b] for b in live) for live in walk.live]


def peak_bytes(g: Graph, itemsize: int | None = None, inplace: bool = False) -> int:
    """Return the most bytes alive at once: the least SRAM any arena for this order can have."""
    return max(live_bytes(g, itemsize, inplace))


def peak_step(g: Graph, itemsize: int | None = None, inplace: bool = False) -> tuple[str, dict[str, int]]:
    """Return the step where the peak is reached and the bytes of each buffer alive there."""
    walk = _walk(g, itemsize, inplace)
    totals = [sum(walk.size[b] for b in live) for live in walk.live]
    i = totals.index(max(totals))
    return g.steps[i].name, {b: walk.size[b] for b in sorted(walk.live[i], key=lambda b: -walk.size[b])}


def buffers(g: Graph, itemsize: int | None = None, inplace: bool = False) -> list[Buffer]:
    """Return the arena's buffers with their lifetimes (first and last step alive), in order of first use."""
    walk = _walk(g, itemsize, inplace)
    span: dict[str, list[int]] = {}
    for i, live in enumerate(walk.live):
        for b in live:
            span.setdefault(b, [i, i])[1] = i
    tensors: dict[str, list[str]] = {}
    for tensor, b in walk.root.items():
        tensors.setdefault(b, []).append(tensor)
    return [Buffer(b, tuple(tensors.get(b, [b])), walk.size[b], first, end) for b, (first, end) in span.items()]


@dataclass(frozen=True)
class Plan:
    """Where each buffer sits in the arena (byte offsets), the arena's size and the peak it cannot go below."""

    buffers: tuple[Buffer, ...]
    offsets: dict[str, int]
    arena_bytes: int
    peak_bytes: int
    method: str
    steps: tuple[str, ...]

    @property
    def overhead(self) -> float:
        """Return how much larger the arena is than the peak (0.0 = the planner reached the lower bound)."""
        return self.arena_bytes / self.peak_bytes - 1


def _align(n: int, align: int) -> int:
    return -(-n // align) * align


def _place(order: Sequence[Buffer], align: int) -> dict[str, int]:
    """Return offsets: each buffer in turn at the lowest aligned address clear of every placed buffer alive with it."""
    placed: list[tuple[int, Buffer]] = []
    for b in order:
        busy = sorted(((o, p) for o, p in placed if p.first <= b.last and b.first <= p.last), key=lambda op: op[0])
        offset = 0
        for o, p in busy:
            if offset + b.size <= o:
                break  # the gap below this neighbour is large enough
            offset = max(offset, _align(o + p.size, align))
        placed.append((offset, b))
    return {b.name: o for o, b in placed}


def plan(g: Graph, itemsize: int | None = None, inplace: bool = False, method: str = "greedy", align: int = 16) -> Plan:
    """Return an address for every buffer of ``g``, by ``method``:

    - "greedy": TFLM's GreedyMemoryPlanner: largest buffer first, each at the lowest offset clear of every buffer
      placed so far that is alive at the same time;
    - "first_fit": the same rule in order of first use, as a heap allocator that never moves anything would;
    - "linear": TFLM's LinearMemoryPlanner: one after another, no reuse (the arena is the sum of all buffers).

    Offsets are multiples of ``align`` bytes (TFLM aligns buffers to 16).
    """
    if method not in PLANNERS:
        raise ValueError(f"unknown planner {method!r}; choose one of {', '.join(PLANNERS)}")
    if align < 1:
        raise ValueError(f"align must be >= 1 byte, got {align}; TFLM uses 16")
    found = buffers(g, itemsize, inplace)
    if method == "linear":
        offsets, top = {}, 0
        for b in found:
            offsets[b.name], top = top, _align(top + b.size, align)
    else:
        key = (lambda b: (-b.size, b.first)) if method == "greedy" else (lambda b: (b.first, -b.size))
        offsets = _place(sorted(found, key=key), align)
    arena_bytes = max(offsets[b.name] + b.size for b in found)
    return Plan(tuple(found), offsets, arena_bytes, peak_bytes(g, itemsize, inplace), method, g.names)


def orders(g: Graph, limit: int = 20_000) -> list[tuple[str, ...]]:
    """Return every execution order of ``g`` (its topological orders), ``g``'s own first; raise past ``limit``."""
    reads = [set(s.reads) for s in g.steps]
    found: list[tuple[str, ...]] = []
    # Depth first without recursion (a graph may have hundreds of steps): each entry is an order begun so far.
    stack: list[tuple[str, ...]] = [()]
    while stack:
        prefix = stack.pop()
        if len(prefix) == len(g.steps):
            found.append(prefix)
            if len(found) > limit:
                raise ValueError(
                    f"this graph has more than {limit:,} execution orders: search a block of it (a few branches), "
                    "or pass a larger limit"
                )
            continue
        done = set(prefix)
        ready = [n for n, r in zip(g.names, reads, strict=True) if n not in done and r <= done]
        stack.extend((*prefix, n) for n in reversed(ready))  # reversed: g's own order is popped first
    return found


def order_search(
    g: Graph, itemsize: int | None = None, inplace: bool = False, limit: int = 20_000
) -> list[tuple[tuple[str, ...], int]]:
    """Return (order, peak bytes) for every execution order of ``g``, lowest peak first (``g``'s own order first
    among equals)."""
    peaks = [(order, peak_bytes(g.reorder(order), itemsize, inplace)) for order in orders(g, limit)]
    return sorted(peaks, key=lambda pair: pair[1])  # a stable sort keeps g's own order first among ties


def report(graphs: Mapping[str, Graph], itemsize: int | None = None, inplace: bool = False) -> Report:
    """Return Report rows per graph, in KB (1,024 bytes, as microcontroller datasheets count): the sum of its
    activations, the peak alive at once, and the arena of each planner."""
    out = Report()
    precision = "as traced" if itemsize is None else f"{itemsize} byte(s) per value"
    how = f"{'in-place operators, ' if inplace else ''}{precision}, batch 1, KB = 1,024 bytes"
    for name, g in graphs.items():
        out.add(name, "activations_total", sum(g.sizes(itemsize).values()) / KB, "KB", f"sum of every tensor, {how}")
        out.add(name, "peak_live", peak_bytes(g, itemsize, inplace) / KB, "KB", f"most bytes alive at once, {how}")
        for method in PLANNERS:
            arena = plan(g, itemsize, inplace, method).arena_bytes / KB
            out.add(name, f"arena_{method}", arena, "KB", f"arena of the {method} planner (16-byte aligned), {how}")
    return out


def table(g: Graph, itemsize: int | None = None, inplace: bool = False) -> pd.DataFrame:
    """Return one row per step: its module, operator, output shape, KB, the buffer it writes and that buffer's
    lifetime (first and last step alive), and who reads it."""
    readers, found = g.consumers(), {t: b for b in buffers(g, itemsize, inplace) for t in b.tensors}
    size = g.sizes(itemsize)
    rows = [
        {
            "step": i,
            "tensor": s.name,
            "module": s.module,
            "operator": s.kind,
            "shape": "×".join(map(str, s.shape[1:])),
            "KB": round(size[s.name] / KB, 2),
            "buffer": found[s.name].name,
            "alive": f"{found[s.name].first}–{found[s.name].last}",
            "read by": ", ".join(readers[s.name]),
        }
        for i, s in enumerate(g.steps)
    ]
    return pd.DataFrame(rows).set_index("step")


def describe(g: Graph, itemsize: int | None = None, inplace: bool = False) -> str:
    """Return one sentence: the peak, where it is reached, and which tensors are alive there."""
    step, alive_there = peak_step(g, itemsize, inplace)
    parts = ", ".join(f"{b} {format_bytes(n)}" for b, n in alive_there.items())
    return f"peak {format_bytes(sum(alive_there.values()))} while {step!r} runs: {parts}"

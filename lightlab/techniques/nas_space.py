"""The NAS search space: a candidate is a sequence of per-layer choices (block kind, width, kernel) plus a head.

A candidate has 0 to D stride-2 blocks from ``ll.blocks`` (``conv``, ``dwsep``, ``inverted``, ``inverted_se``),
each with its own kind, width (output channels) and kernel, then a head: ``pool`` (global average pooling) or
``flatten`` (keep every position), an optional hidden Linear layer of ``hidden`` units, and the Linear classifier.
Depth 0 is a multi-layer perceptron on the raw input (``mlp 64`` is a hand-made ``TASK-small`` model). A model is
timed and counted as it is deployed: ``fold_batchnorm`` folds each BatchNorm into the convolution before it, as
ONNX export and inference runtimes do, so the search does not pay for a layer that disappears at deployment.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from lightlab import config
from lightlab.models import blocks

HEADS = ("pool", "flatten")


@dataclass(frozen=True)
class Layer:
    """One block of a candidate: its ``kind`` (one of ``ll.blocks.KINDS``), output channels and kernel size."""

    kind: str
    width: int
    kernel: int = 3

    def __str__(self) -> str:
        return f"{self.kind}{self.width}k{self.kernel}"


@dataclass(frozen=True)
class Space:
    """The choices of a search: per layer a block kind, width and kernel; the number of blocks; the head
    (``pool`` or ``flatten``) and its hidden width (0: none). Depth 0 is an MLP on the raw input."""

    kinds: tuple[str, ...] = ("conv", "dwsep", "inverted")
    depths: tuple[int, ...] = (0, 1, 2)
    widths: tuple[int, ...] = (8, 16, 32)
    kernels: tuple[int, ...] = (3, 5)
    heads: tuple[str, ...] = HEADS
    hidden: tuple[int, ...] = (0, 32, 64)

    def __post_init__(self) -> None:
        for name in ("kinds", "depths", "widths", "kernels", "heads", "hidden"):
            if not getattr(self, name):
                raise ValueError(f"Space {name} is empty: give at least one, e.g. Space({name}={getattr(Space, name)})")
            if len(set(getattr(self, name))) != len(getattr(self, name)):
                raise ValueError(f"Space {name} repeats a choice: {getattr(self, name)}; list each once")
        unknown = [k for k in self.kinds if k not in blocks.KINDS]
        if unknown:
            raise ValueError(f"Space kinds has unknown block kinds {unknown}; choose from {', '.join(blocks.KINDS)}")
        bad_heads = [h for h in self.heads if h not in HEADS]
        if bad_heads:
            raise ValueError(f"Space heads has unknown heads {bad_heads}; choose from {', '.join(HEADS)}")
        if min(self.depths) < 0 or min(self.widths) < 1 or min(self.hidden) < 0:
            raise ValueError(
                f"Space needs depths >= 0, widths >= 1 and hidden >= 0 (0: no hidden layer); got "
                f"depths={self.depths}, widths={self.widths}, hidden={self.hidden}"
            )
        if any(k < 1 or k % 2 == 0 for k in self.kernels):
            raise ValueError(f"Space needs odd kernels >= 1 (padding k//2 keeps the size); got kernels={self.kernels}")

    def size(self) -> int:
        """Return the number of distinct candidates: per depth d >= 1, (kinds x widths x kernels)^d x heads x
        hidden; depth 0 has no block to pool, so it counts hidden widths only."""
        per_layer = len(self.kinds) * len(self.widths) * len(self.kernels)
        return sum(
            len(self.hidden) * (1 if d == 0 else per_layer**d * len(self.heads)) for d in sorted(set(self.depths))
        )

    def outside(self, cand: Candidate) -> list[str]:
        """Return the choices of ``cand`` this space does not offer (empty when ``cand`` is one of its candidates)."""
        choices = [("depth", cand.depth, self.depths), ("hidden", cand.hidden, self.hidden)]
        choices += [("head", cand.head, self.heads)] if cand.layers else []
        for x in cand.layers:
            choices += [
                ("kind", x.kind, self.kinds),
                ("width", x.width, self.widths),
                ("kernel", x.kernel, self.kernels),
            ]
        return [f"{what} {value!r}" for what, value, allowed in choices if value not in allowed]


@dataclass(frozen=True)
class Candidate:
    """One architecture: ``layers`` (stride-2 blocks, in order), then the ``head`` and its ``hidden`` width."""

    layers: tuple[Layer, ...] = ()
    head: str = "flatten"
    hidden: int = 0

    def __post_init__(self) -> None:
        if not self.layers and self.head != "flatten":
            raise ValueError("a candidate without blocks has nothing to pool: give head='flatten' (an MLP)")

    @property
    def depth(self) -> int:
        """Return the number of blocks."""
        return len(self.layers)

    @property
    def family(self) -> str:
        """Return ``mlp`` (no block), the one block kind used, or ``mixed``."""
        kinds = {layer.kind for layer in self.layers}
        return "mlp" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"

    def __str__(self) -> str:
        if not self.layers:
            return f"mlp {self.hidden}" if self.hidden else "linear"
        body = "-".join(map(str, self.layers))
        return f"{body} {self.head}" + (f" {self.hidden}" if self.hidden else "")

    def to_params(self) -> dict:
        """Return the candidate as plain JSON-able values (how a sweep records it)."""
        return {"layers": [[x.kind, x.width, x.kernel] for x in self.layers], "head": self.head, "hidden": self.hidden}

    @classmethod
    def from_params(cls, layers: list, head: str, hidden: int) -> Candidate:
        """Return the candidate that ``to_params`` wrote."""
        return cls(tuple(Layer(*x) for x in layers), head, int(hidden))

    def specs(self, input_shape: tuple[int, ...], classes: int) -> list[tuple[tuple, tuple[int, ...]]]:
        """Return (spec, input shape) for each top-level layer; ``make_layer(spec)`` builds it."""
        shape, out = tuple(input_shape), []
        for layer in self.layers:
            c, h, w = shape
            out.append((("block", layer.kind, c, layer.width, layer.kernel), shape))
            # a stride-2 block with padding k//2 rounds up: 13 -> 7
            shape = (layer.width, (h + 1) // 2, (w + 1) // 2)
        if self.head == "pool":
            out.append((("pool",), shape))
            shape = (shape[0], 1, 1)
        out.append((("flatten",), shape))
        features = math.prod(shape)
        if self.hidden:
            out += [(("linear", features, self.hidden), (features,)), (("relu",), (self.hidden,))]
            features = self.hidden
        out.append((("linear", features, classes), (features,)))
        return out

    def build(self, input_shape: tuple[int, ...], classes: int, seed: int = 0) -> nn.Sequential:
        """Return the seeded, trainable model (BatchNorm still separate; ``fold_batchnorm`` deploys it)."""
        specs = self.specs(input_shape, classes)
        config.seed_everything(seed)
        return nn.Sequential(*(make_layer(spec) for spec, _ in specs))


def make_layer(spec: tuple) -> nn.Module:
    """Return a new layer for a ``Candidate.specs`` entry."""
    what, *args = spec
    if what == "block":
        kind, c, width, kernel = args
        return blocks.make(kind, c, width, kernel, stride=2)
    return {
        "pool": lambda: nn.AdaptiveAvgPool2d(1),
        "flatten": nn.Flatten,
        "relu": nn.ReLU,
        "linear": lambda: nn.Linear(*args),
    }[what]()


def candidates(space: Space, input_shape: tuple[int, ...]) -> list[Candidate]:
    """Return every distinct candidate of ``space`` for inputs of ``input_shape``, or raise naming the fix."""
    if max(space.depths) > 0:
        if len(input_shape) != 3:
            raise ValueError(
                f"blocks need image-like inputs (channels, height, width), got {input_shape}; use Space(depths=(0,)) "
                "for an MLP-only space"
            )
        deepest = int(math.log2(min(input_shape[1:])))  # each block halves the image; stop before 1 pixel
        if max(space.depths) > deepest:
            raise ValueError(
                f"depth {max(space.depths)} is impossible: each block halves the {input_shape[1]}x{input_shape[2]} "
                f"input, so at most {deepest} blocks fit; use depths <= {deepest}"
            )
    per_layer = [Layer(*c) for c in itertools.product(space.kinds, space.widths, space.kernels)]
    out = []
    for depth in sorted(set(space.depths)):
        heads = ("flatten",) if depth == 0 else space.heads
        for layers in itertools.product(per_layer, repeat=depth):
            out += [Candidate(layers, head, hidden) for head in heads for hidden in space.hidden]
    return out


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Return an eval-mode copy of ``model`` with every BatchNorm2d that follows a Conv2d inside a Sequential folded
    into that convolution (the same outputs up to rounding, one layer less to run)."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        layers, kept = list(module), []
        for layer in layers:
            if isinstance(layer, nn.BatchNorm2d) and kept and isinstance(kept[-1], nn.Conv2d):
                kept[-1] = fuse_conv_bn_eval(kept[-1], layer)
            else:
                kept.append(layer)
        if len(kept) < len(layers):
            for i in reversed(range(len(module))):
                del module[i]
            for layer in kept:
                module.append(layer)
    return model

"""A model that runs in ONNX Runtime: ``OnnxModel`` wraps a session as an ``nn.Module``, so measuring and
evaluating treat it like any model; its state_dict is the .onnx file itself, so its size is the deployable size.
``export_onnx`` turns a PyTorch model into those bytes.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lightlab import config

# Operators that only appear in a quantized graph.
INT8_OPS = {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "QLinearConv", "QLinearMatMul"}


@contextmanager
def quiet_loggers(*names: str):
    """Silence warnings from the named loggers inside the block: library noise a learner cannot act on."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


class OnnxModel(nn.Module):
    """An ONNX Runtime session used like a model: ``model(x) -> logits``; the .onnx bytes are its state_dict."""

    def __init__(self, onnx_bytes: bytes, threads: int | None = None, macs_per_sample: int | None = None):
        super().__init__()
        # A uint8 buffer: torch.save(state_dict) then weighs what the .onnx file weighs.
        self.register_buffer("onnx", torch.frombuffer(bytearray(onnx_bytes), dtype=torch.uint8))
        self.threads = threads or torch.get_num_threads()
        # PyTorch's FlopCounterMode cannot see inside ONNX Runtime: the MACs come from the source model when it is
        # known, else from the graph's shapes. A file made for one batch size runs at that batch only.
        macs, self.fixed_batch = graph_macs(onnx_bytes)
        self.macs_per_sample = macs_per_sample if macs_per_sample is not None else macs
        self.macs_method = "counted on the source model" if macs_per_sample is not None else MACS_METHOD
        self._start()

    def count_macs(self, example: torch.Tensor) -> int | None:
        """Return the MACs of a forward pass on ``example``: per sample (from the graph, at this input's shape when
        the file leaves dimensions free) times its batch; None when ONNX cannot infer the shapes."""
        per_sample = self.macs_per_sample
        if per_sample is None:
            per_sample, _ = graph_macs(self.onnx_bytes, tuple(example.shape[1:]))
        return None if per_sample is None else per_sample * example.shape[0]

    def _start(self) -> None:
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper

        options = ort.SessionOptions()
        # Same thread count as PyTorch, so that comparisons with torch FP32 are fair.
        options.intra_op_num_threads, options.inter_op_num_threads = self.threads, 1
        self.session = ort.InferenceSession(self.onnx_bytes, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        graph = onnx.load_from_string(self.onnx_bytes).graph
        # The weights and biases stored in the file; quantization scales, zero points and shapes are not counted.
        self._weights = [
            torch.from_numpy(numpy_helper.to_array(t).copy())
            for t in graph.initializer
            if not t.name.endswith(("_scale", "_zero_point")) and t.data_type != onnx.TensorProto.INT64
        ]
        self.ops = sorted({node.op_type for node in graph.node})
        self.precision = "int8" if INT8_OPS & set(self.ops) else "fp32"

    @property
    def onnx_bytes(self) -> bytes:
        """Return the .onnx file's bytes."""
        return self.onnx.numpy().tobytes()

    def parameters(self, recurse: bool = True):
        """Yield the weight tensors stored in the .onnx file (so ``count_params`` counts them); not trainable."""
        yield from self._weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the ONNX Runtime session on ``x`` and return its first output as a tensor."""
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        n = self.fixed_batch
        if n is None or len(array) == n:
            return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])
        # A file made for one batch size: run chunks of that size, the last one padded with copies of its first row.
        outs = []
        for chunk in (array[i : i + n] for i in range(0, len(array), n)):
            padded = np.concatenate([chunk, np.repeat(chunk[:1], n - len(chunk), axis=0)])
            outs.append(self.session.run(None, {self.input_name: padded})[0][: len(chunk)])
        return torch.from_numpy(np.concatenate(outs))

    def save(self, path: str | Path) -> Path:
        """Write the .onnx file (ready for ONNX Runtime on an edge device) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with config.atomic_path(path) as tmp:
            tmp.write_bytes(self.onnx_bytes)
        return path

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> OnnxModel:
        """Return an OnnxModel running the .onnx file at ``path``."""
        return cls(Path(path).read_bytes(), threads)

    def __getstate__(self) -> dict:
        # An InferenceSession cannot be pickled or deep-copied; rebuild it from the bytes instead.
        return {k: v for k, v in self.__dict__.items() if k not in ("session", "_weights")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._start()

    def extra_repr(self) -> str:
        return f"{len(self.onnx):,} bytes, {self.threads} threads, ops: {', '.join(self.ops)}"


MACS_METHOD = "from the ONNX graph: Conv, Gemm and MatMul (and integer forms) at shapes ONNX infers"
CONVS = {"Conv": 1, "ConvInteger": 1, "QLinearConv": 3}  # op -> which input holds the weight
MATMULS = {"Gemm", "MatMul", "MatMulInteger", "QLinearMatMul"}


def graph_macs(onnx_bytes: bytes, shape: tuple[int, ...] | None = None) -> tuple[int | None, int | None]:
    """Return (multiply-accumulates of one sample, the file's fixed batch or None) through its Conv, Gemm and
    MatMul nodes and their integer forms, from the shapes ONNX infers with the batch set (1 if it is free) and,
    if given, the input's other dimensions set to ``shape``. The MACs are None when a shape stays unknown."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    stored = {t.name for t in model.graph.initializer}
    first = next(i for i in model.graph.input if i.name not in stored)
    dim, *rest = first.type.tensor_type.shape.dim
    fixed = dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None
    if fixed is None:
        dim.dim_value = 1  # a free batch ("batch", or unnamed): one sample
    for d, size in zip(rest, shape or (), strict=False):
        d.dim_value = size
    graph = onnx.shape_inference.infer_shapes(model).graph
    shapes = {t.name: list(t.dims) for t in graph.initializer}
    for value in (*graph.input, *graph.value_info, *graph.output):
        shapes[value.name] = [d.dim_value for d in value.type.tensor_type.shape.dim]
    total = 0
    for node in graph.node:
        out = shapes.get(node.output[0], [])
        if node.op_type in CONVS:  # each output element: in-channels per group x kernel MACs
            inner = shapes.get(node.input[CONVS[node.op_type]], [])[1:]
        elif node.op_type in MATMULS:  # each output element: one row times one column
            a = shapes.get(node.input[0], [])
            trans_a = any(att.name == "transA" and att.i for att in node.attribute)
            inner = a[-2:-1] if trans_a else a[-1:]
        else:
            continue
        if not out or not inner or 0 in out or 0 in inner:  # a dimension ONNX could not infer
            return None, fixed
        total += math.prod(out) * math.prod(inner)
    return total // (fixed or 1), fixed


def _strip_graph(graph) -> None:
    for node in graph.node:
        del node.metadata_props[:]  # stack traces (source paths), class names, FX nodes
        node.doc_string = ""
        for attribute in node.attribute:  # the branches of If and the bodies of Loop and Scan
            for sub in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                _strip_graph(sub)
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        value.doc_string = ""
    del graph.metadata_props[:]
    graph.doc_string = ""


def strip_metadata(onnx_bytes: bytes) -> bytes:
    """Return the .onnx file without what the exporter recorded about the machine that made it.

    torch's exporter stores, on every node, the stack trace that created it (absolute source paths, and so a user
    name) and its module names: text a deployable file does not need, a privacy leak, and a third of a small int8
    model's bytes. Operators, weights, names of inputs and outputs and the opset stay as they are.
    """
    import onnx

    proto = onnx.load_from_string(onnx_bytes)
    _strip_graph(proto.graph)
    for function in proto.functions:
        for node in function.node:
            del node.metadata_props[:]
            node.doc_string = ""
    del proto.metadata_props[:]
    proto.doc_string = ""
    return proto.SerializeToString()


def export_onnx(model: nn.Module, example: torch.Tensor) -> bytes:
    """Return ``model`` exported to ONNX (torch.onnx dynamo exporter), with a dynamic batch dimension."""
    model = copy.deepcopy(model).eval()
    # torch.export warns about its own internals, the exporter about torchvision ops this model does not use.
    with warnings.catch_warnings(), quiet_loggers("torch.onnx._internal.exporter._registration"):
        warnings.simplefilter("ignore", FutureWarning)
        try:
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                verbose=False,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
            )
        except Exception as err:
            raise ValueError(
                f"torch.onnx.export could not export {type(model).__name__}: ONNX Runtime needs a "
                f"model that torch.export can trace. (torch said: {err})"
            ) from err
    return strip_metadata(program.model_proto.SerializeToString())

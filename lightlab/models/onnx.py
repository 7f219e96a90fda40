"""A model that runs in ONNX Runtime: ``OnnxModel`` wraps a session as an ``nn.Module``, so measuring and
evaluating treat it like any model; its state_dict is the .onnx file itself, so its size is the deployable size.
``export_onnx`` turns a PyTorch model into those bytes.
"""

from __future__ import annotations

import copy
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

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
        # PyTorch's FlopCounterMode cannot see inside ONNX Runtime: keep the MACs counted on the source model.
        self.macs_per_sample = macs_per_sample
        self._start()

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
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    def save(self, path: str | Path) -> Path:
        """Write the .onnx file (ready for ONNX Runtime on an edge device) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.onnx_bytes)
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
    return program.model_proto.SerializeToString()

"""Your own model from a file, loaded without ever unpickling it.

``load_model(spec)`` takes an ``.onnx`` file, a TorchScript file (``torch.jit.save``), a ``torch.export`` file
(``.pt2``), a weights file (safetensors, or a ``torch.save`` of a state dict) with ``arch="module:factory"``, or
``"module:factory"`` alone (a function that returns the model). A pickled whole model (``torch.save(model)``) is
refused: unpickling can run any code the file holds, so LightLab reads tensors only (``weights_only=True``).
"""

from __future__ import annotations

import importlib
import pickle
import sys
import zipfile
from pathlib import Path

import torch
from torch import nn

from lightlab.models.onnx import OnnxModel

SAFE_FORMATS = (
    "an .onnx file; a TorchScript file (torch.jit.save(torch.jit.script(model), 'm.pt')); a torch.export file "
    "(torch.export.save(torch.export.export(model, (x,)), 'm.pt2')); or the weights (safetensors, or "
    "torch.save(model.state_dict())) with --arch module:factory"
)


class ModelFileError(ValueError):
    """A model file that cannot be loaded safely, or an architecture that does not fit it."""


def load_model(spec: str, arch: str | None = None) -> tuple[str, nn.Module]:
    """Return (a short name, the model in eval mode) for a model file or a ``module:factory`` callable."""
    path = Path(spec)
    if not path.exists() and ":" in spec:
        return spec.split(":")[-1], _build(spec)
    if not path.is_file():
        raise ModelFileError(f"model file {spec} does not exist; give {SAFE_FORMATS}, or module:factory")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return path.stem, OnnxModel.load(path)
    if suffix == ".pt2":
        return path.stem, FileModel(torch.export.load(path).module(), path.stat().st_size)
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        return path.stem, _with_weights(load_file(path), arch, path)
    if _is_torchscript(path):
        return path.stem, FileModel(torch.jit.load(path, map_location="cpu").eval(), path.stat().st_size)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ModelFileError(
            f"{path.name} is a pickled whole model (torch.save(model)): LightLab never unpickles a file, since "
            f"unpickling can run any code it holds. Save it as {SAFE_FORMATS}"
        ) from err
    except (RuntimeError, EOFError) as err:
        raise ModelFileError(f"{path.name} is not a model file PyTorch can read ({err}); give {SAFE_FORMATS}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # a training checkpoint
    if not (isinstance(state, dict) and state and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise ModelFileError(
            f"{path.name} holds {type(state).__name__}, not a state dict of tensors; give {SAFE_FORMATS}"
        )
    return path.stem, _with_weights(state, arch, path)


class FileModel(nn.Module):
    """A TorchScript or torch.export program as a plain module, measured whole: PyTorch cannot hook inside a
    ScriptModule, and an exported program refuses ``eval()`` (it is already frozen for inference)."""

    def __init__(self, program, file_bytes: int):
        super().__init__()
        self.__dict__["program"] = program  # not a submodule: measuring hooks and eval() reach this wrapper only
        self.file_bytes = file_bytes  # its size is the file's, as for an .onnx file

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.program(x)

    peak_method = "weights + the whole model's input+output, batch 1 (a program read from a file is not hooked inside)"

    def parameters(self, recurse: bool = True):
        """Yield the program's parameters (so ``count_params`` counts them)."""
        yield from self.program.parameters()

    def state_dict(self, *args, **kwargs) -> dict:
        """Return the program's state dict (its weights)."""
        return self.program.state_dict(*args, **kwargs)


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


def _build(spec: str) -> nn.Module:
    """Import ``module:factory`` (from the working folder too) and return ``factory()`` in eval mode."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ModelFileError(f"expected module:factory, such as my_models:build, got {spec!r}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ModelFileError(f"cannot find {attr!r} in module {module_name!r}: {err}") from err
    model = factory()
    if not isinstance(model, nn.Module):
        raise ModelFileError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def _with_weights(state: dict, arch: str | None, path: Path) -> nn.Module:
    if arch is None:
        raise ModelFileError(
            f"{path.name} holds weights only: say which architecture they belong to with --arch module:factory "
            "(a function that builds the model, e.g. my_models:build)"
        )
    model = _build(arch)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ModelFileError(f"the weights in {path.name} do not fit {arch}: {first}") from err
    return model.eval()

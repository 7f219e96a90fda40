"""LightLab: teach and measure lightweight AI. Start with ``import lightlab as ll; ll.doctor()``."""

import importlib

__version__ = "0.1.0"

from lightlab import checks, config, data, energy, measure, plots, train, widgets, zoo  # noqa: E402
from lightlab.data import Task, load  # noqa: E402
from lightlab.report import Report  # noqa: E402
from lightlab.selfcheck import doctor  # noqa: E402

# Technique and domain modules pull in heavier libraries (Torch-Pruning, ONNX Runtime, torchao, scikit-learn):
# import them on first use.
_LAZY = {
    "prune",
    "quantize",
    "int8",
    "distill",
    "compress",
    "metrics",
    "ecg",
    "lidar",
    "anomaly",
    "budget",
    "blocks",
    "nas",
    "adaptive",
    "sweep",
}


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"lightlab.{name}")
    raise AttributeError(f"module 'lightlab' has no attribute {name!r}")


__all__ = [
    "Report",
    "Task",
    "checks",
    "config",
    "data",
    "doctor",
    "energy",
    "load",
    "measure",
    "plots",
    "train",
    "widgets",
    "zoo",
    "__version__",
    *sorted(_LAZY),
]

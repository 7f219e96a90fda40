"""LightLab: teach and measure lightweight AI. Start with ``import lightlab as ll; ll.doctor()``.

The package is a house of layers (see ARCHITECTURE.md): ``data``, ``models``, ``measurement``, ``techniques``,
``applications`` and the ``face``. Every module has one home, ``lightlab.<layer>.<module>``; ``ll.<module>`` finds
it by name in the tree on first use, so ``ll.prune`` is ``lightlab.techniques.prune`` and importing lightlab
loads nothing heavy. Four names are kept at the front door: ``ll.load``, ``ll.Task``, ``ll.Report``, ``ll.doctor``.
"""

import importlib
import pkgutil
from functools import cache
from pathlib import Path

__version__ = "0.1.0"

LAYERS = ("data", "models", "measurement", "techniques", "applications", "face")
_FRONT_DOOR = {
    "load": "lightlab.data.loaders",
    "Task": "lightlab.data.tasks",
    "Report": "lightlab.measurement.report",
    "doctor": "lightlab.face.selfcheck",
}


@cache
def modules() -> dict[str, str]:
    """Return {short name: full module path} for every module directly inside a layer, read from the tree."""
    found: dict[str, str] = {"config": "lightlab.config"}
    for layer in LAYERS:
        for info in pkgutil.iter_modules([str(Path(__file__).parent / layer)]):
            if info.name.startswith("_"):
                continue
            if info.name in found:
                raise ImportError(f"two modules are called {info.name!r}: {found[info.name]} and lightlab.{layer}")
            found[info.name] = f"lightlab.{layer}.{info.name}"
    return found


def __getattr__(name: str):
    if name in _FRONT_DOOR:
        return getattr(importlib.import_module(_FRONT_DOOR[name]), name)
    if name in LAYERS:
        return importlib.import_module(f"lightlab.{name}")
    if name in modules():
        return importlib.import_module(modules()[name])
    raise AttributeError(f"module 'lightlab' has no attribute {name!r}; its modules are {', '.join(sorted(modules()))}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_FRONT_DOOR, *LAYERS, *modules()})

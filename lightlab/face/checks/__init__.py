"""Exercise checkers: each runs a learner's function on a fixed tiny input and raises with a hint.

One file per notebook topic; every checker is reachable as ``ll.checks.NAME``. An unsolved exercise (its stub
still raises NotImplementedError) and a wrong answer both show a short "Not yet." with a hint, not a traceback.
"""

import importlib
import pkgutil

from lightlab.face.checks.base import CheckFailed, guarded

# One module per notebook topic, read from this folder (``base`` holds the shared helpers).
TOPICS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name != "base")


def __getattr__(name: str):
    """Find checker ``name`` in the topic modules (imported on first use); ``ll.checks.TOPIC`` is the module."""
    if name in TOPICS:
        return importlib.import_module(f"{__name__}.{name}")
    for topic in TOPICS:
        module = importlib.import_module(f"{__name__}.{topic}")
        found = getattr(module, name, None)
        if callable(found) and getattr(found, "__module__", None) == module.__name__:
            return guarded(found)
    raise AttributeError(f"no checker named {name!r} in ll.checks")


__all__ = ["CheckFailed"]

"""Exercise checkers: each runs a learner's function on a fixed tiny input and raises with a hint.

One file per notebook topic; every checker is reachable as ``ll.checks.NAME``.
"""

import importlib

from lightlab.checks.base import CheckFailed

TOPICS = [
    "start",
    "prune",
    "quantize",
    "distill",
    "compress",
    "wearables",
    "autonomous",
    "healthcare",
    "industrial",
    "architectures",
    "nas",
    "edge_cloud",
    "adaptive",
]


def __getattr__(name: str):
    """Find checker ``name`` in the topic modules (imported on first use); ``ll.checks.TOPIC`` is the module."""
    if name in TOPICS:
        return importlib.import_module(f"lightlab.checks.{name}")
    for topic in TOPICS:
        try:
            module = importlib.import_module(f"lightlab.checks.{topic}")
        except ModuleNotFoundError as err:
            if err.name == f"lightlab.checks.{topic}":
                continue
            raise
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"no checker named {name!r} in lightlab.checks")


__all__ = ["CheckFailed"]

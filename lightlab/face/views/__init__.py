"""One view per topic: the topic's plotly figures and its explorer (``ll.views.prune.PruneExplorer``)."""

import importlib


def __getattr__(name: str):
    """Import the view ``name`` (a module of this folder) on first use, so ``ll.views.prune`` works."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"{__name__}.{name}":
            raise AttributeError(f"no view named {name!r} in ll.views") from None
        raise

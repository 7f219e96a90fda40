"""Load a notebook's solutions file (notebooks/solutions/NAME.py) as a module, for the tests that check it."""

import importlib.util
from pathlib import Path

SOLUTIONS = Path(__file__).resolve().parents[1] / "notebooks" / "solutions"


def load(name: str):
    """Return notebooks/solutions/``name``.py imported as a module."""
    spec = importlib.util.spec_from_file_location(f"solutions_{name}", SOLUTIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

"""Generated (synthetic) tasks, seeded and labelled synthetic wherever they appear."""

from __future__ import annotations

from collections.abc import Callable

from lightlab.data import Task

LOADERS: dict[str, Callable[[int], Task]] = {}

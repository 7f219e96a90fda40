"""Settings read by the whole package: quick mode, seeds, threads and paths.

Quick mode (``LIGHTLAB_QUICK=1``) runs the very same code with fewer samples, epochs and
repeats, so notebooks finish in CI and on Binder within minutes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"


QUICK_ON, QUICK_OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def quick() -> bool:
    """Return True when ``LIGHTLAB_QUICK`` asks for the short run (read on every call; unset means full mode).

    Anything but the values listed is refused, so a typo never silently picks a mode.
    """
    value = os.environ.get("LIGHTLAB_QUICK", "").strip().lower()
    if value in QUICK_ON:
        return True
    if value in QUICK_OFF:
        return False
    raise ValueError(
        f"LIGHTLAB_QUICK={os.environ['LIGHTLAB_QUICK']!r} is neither on nor off: set it to 1 (or true, yes, on) for "
        "the short run, or 0 (or false, no, off, or leave it unset) for the full one"
    )


def pick(full: int | float, short: int | float) -> int | float:
    """Return ``short`` in quick mode and ``full`` otherwise."""
    return short if quick() else full


def epochs(given: int | None, full: int, short: int) -> int:
    """Return ``given`` epochs if set, else the default: ``full`` in full mode, ``short`` in quick mode.

    The one place epoch defaults are resolved, so every technique reads them the same way. Raises on < 1.
    """
    n = int(given if given is not None else pick(full, short))
    if n < 1:
        raise ValueError(f"epochs must be at least 1, got {n}")
    return n


def datasets_dir() -> Path:
    """Return the folder holding the shipped data sets (``LIGHTLAB_DATA`` overrides it)."""
    return Path(os.environ.get("LIGHTLAB_DATA", ROOT / "datasets"))


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path``; when the block ends without error it replaces ``path`` in one step.

    An interrupted or failed write leaves the previous complete file (or none), never half of one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def seed_everything(seed: int = 0) -> int:
    """Seed Python, NumPy and PyTorch so that the same seed gives the same numbers on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed


def set_threads(n: int | None = None) -> int:
    """Set the number of PyTorch intra-op threads (default: every core) and return it."""
    n = n or os.cpu_count() or 1
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return torch.get_num_threads()


def threads() -> int:
    """Return the number of threads PyTorch uses now."""
    return torch.get_num_threads()


@contextlib.contextmanager
def using_threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` PyTorch threads (yielded), then restore the previous number."""
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def preset(value, presets: dict, kind: type, how_to_build: str):
    """Return ``value`` if it is already a ``kind``, else the preset of that name, or raise listing the presets."""
    if isinstance(value, kind):
        return value
    if value not in presets:
        raise ValueError(
            f"unknown {kind.__name__.lower()} {value!r}; use one of {', '.join(presets)} or {how_to_build}"
        )
    return presets[value]


@functools.cache
def return_freed_memory() -> bool:
    """Make glibc hand freed tensors of 1 MB or more straight back to the OS; return whether it could.

    By default glibc raises its mmap threshold as large blocks are freed, so later tensors up to 32 MB come from a
    heap that never shrinks: quantizing a 135 M-parameter model then leaves hundreds of MB of freed memory counted
    against a 2 GB Binder limit. A fixed threshold keeps the memory in use close to what is alive.
    """
    import ctypes
    import platform

    # Not ctypes.util.find_library: it runs ldconfig in a child process, and a child forked from a large kernel
    # counts that kernel's memory a second time in the notebooks' memory budget test.
    if platform.libc_ver()[0] != "glibc":
        return False  # macOS, Windows, musl: nothing to tune
    m_mmap_threshold = -3
    return bool(ctypes.CDLL(None).mallopt(m_mmap_threshold, 1 << 20))  # None: the libc this process already uses


def trim_heap() -> bool:
    """Hand the heap's freed pages back to the OS now (glibc's malloc_trim); return whether any went back.

    Small tensors freed by earlier work stay in the heap, counted as used; trimming before a large build keeps them
    from adding to its peak.
    """
    import ctypes
    import platform

    if platform.libc_ver()[0] != "glibc":
        return False
    return bool(ctypes.CDLL(None).malloc_trim(0))  # None: the libc this process already uses

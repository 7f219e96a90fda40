"""The project's own promises: README and CI agree, ruff is clean, notebooks ship without outputs."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci_command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert ci_command in (ROOT / "README.md").read_text()


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_is_clean():
    result = subprocess.run(["ruff", "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_notebooks_are_committed_without_outputs_and_teach():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), path.name
        markdown = ["".join(c["source"]).lower() for c in cells if c["cell_type"] == "markdown"]
        assert "learning goals" in markdown[0] and "time" in markdown[0], path.name
        assert any("exercises" in m for m in markdown[-4:]), path.name


def test_the_readme_python_example_for_your_own_data_runs(monkeypatch, capsys):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Your own data and model, from Python") :]
    code = section[section.index("```python") + len("```python") : section.index("```", section.index("```python") + 9)]
    monkeypatch.setenv("LIGHTLAB_QUICK", "1")
    exec(compile(code, "README.md", "exec"), {})  # as a reader would paste it
    printed = capsys.readouterr().out
    assert "fp32" in printed and "int8" in printed and "accuracy" in printed

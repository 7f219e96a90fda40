"""``doctor()``: an environment self-check to run before a class or workshop; every problem comes with its fix."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import torch

# Package versions this release was tested with; widgets render blank when the Jupyter trio drift apart.
TESTED = {"jupyterlab": "4.6", "ipywidgets": "8.1", "jupyterlab_widgets": "3.0"}
PACKAGES = [
    "torch",
    "jupyterlab",
    "ipywidgets",
    "jupyterlab_widgets",
    "plotly",
    "nbformat",
    "codecarbon",
    "safetensors",
    "pandas",
    "onnxruntime",
    "torchao",
    "torch-pruning",
    "optuna",
    "distributed",
]
# Where Linux exposes the RAPL energy counters (Intel, and AMD since Zen): intel-rapl:0/energy_uj, ...
POWERCAP = Path("/sys/class/powercap")
RAPL_FIX = (
    "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj (until the next reboot; a udev rule makes it "
    "last), or run as a user allowed to read it"
)


@dataclass
class Check:
    """One line of the self-check: what was looked at, what was found, and the fix when it failed."""

    name: str
    found: str
    ok: bool = True
    fix: str = ""
    hint: str = ""  # advice for a check that passed but could do better


@dataclass
class DoctorReport:
    """All checks; ``ok`` is True when none failed."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when every check passed."""
        return all(c.ok for c in self.checks)

    def problems(self) -> list[Check]:
        """Return the failed checks."""
        return [c for c in self.checks if not c.ok]

    def text(self) -> str:
        """Return the checks as aligned text lines, fixes under the failures."""
        lines = []
        for c in self.checks:
            lines.append(f"{'ok ' if c.ok else 'BAD'}  {c.name:22s} {c.found}")
            if not c.ok:
                lines.append(f"{'':27s}fix: {c.fix}")
            elif c.hint:
                lines.append(f"{'':27s}hint: {c.hint}")
        lines.append("all good" if self.ok else f"{len(self.problems())} problem(s) found: see the fixes above")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _package_checks() -> list[Check]:
    checks = []
    for package in PACKAGES:
        version = _version(package)
        if version is None:
            checks.append(Check(package, "not installed", False, f'pip install -e ".[dev]" (installs {package})'))
            continue
        want = TESTED.get(package)
        if want and not version.startswith(want):
            checks.append(
                Check(
                    package,
                    version,
                    False,
                    f"tested with {package} {want}.x: pip install -e . pins the versions that work together",
                )
            )
        elif package == "torch" and "+cu" in version:
            checks.append(
                Check(
                    package,
                    version,
                    False,
                    "a CUDA build wastes GBs here: pip install torch==2.13.0 from the CPU wheel (see README)",
                )
            )
        else:
            checks.append(Check(package, version))
    return checks


def _readable(path: Path) -> bool:
    return os.access(path, os.R_OK)


def power_meter_check(powercap: Path | None = None) -> Check:
    """Return whether RAPL energy counters exist and can be read, with the fix when only permissions stop it."""
    counters = sorted((powercap or POWERCAP).glob("intel-rapl*/energy_uj"))
    if not counters:
        return Check("power meter", "none: no RAPL on this machine (a VM, or a CPU without it): estimates only")
    if any(_readable(c) for c in counters):
        return Check("power meter", "RAPL readable: energy is measured")
    return Check(
        "power meter",
        f"RAPL present but not readable ({len(counters)} counters; permissions): energy will be estimated "
        "(CodeCarbon) until it is readable",
        hint=RAPL_FIX,
    )


def _machine_checks() -> list[Check]:
    from lightlab.measurement import meter
    from lightlab.measurement.measure import cpu_model, int8_instructions

    int8 = int8_instructions()
    checks = [
        Check("cpu", f"{cpu_model()}, {os.cpu_count()} cores, torch uses {torch.get_num_threads()} threads"),
        Check(
            "int8 instructions",
            ", ".join(int8)
            if int8
            else "none found: int8 models may run no faster than FP32 on this CPU (it still saves size)",
        ),
        power_meter_check(),
        Check("energy method", meter.expected_method()),
    ]
    return checks


def _offline_checks() -> list[Check]:
    from lightlab.data import tasks
    from lightlab.models import packaged, zoo

    checks = []
    for relative in tasks.CHECKSUMS:
        try:
            tasks.verified_path(relative)
            checks.append(Check(f"data {relative.split('/')[0]}", "present, sha256 ok"))
        except tasks.DataError as err:
            checks.append(Check(f"data {relative.split('/')[0]}", "unusable", False, str(err)))
    for name in zoo.names():
        try:
            zoo.check_weights(name)
            checks.append(Check(f"weights {name}", "present, sha256 ok"))
        except zoo.WeightsError as err:
            checks.append(Check(f"weights {name}", "unusable", False, str(err)))
    for name in packaged.names():  # real pretrained models: found in their packages, never downloaded
        try:
            packaged.path(name)
            checks.append(Check(f"pretrained {name}", "installed, sha256 ok"))
        except (packaged.PackageMissing, packaged.WeightsError) as err:
            checks.append(Check(f"pretrained {name}", "unusable", False, str(err)))
    return checks


def doctor(verbose: bool = True) -> DoctorReport:
    """Return (and print) checks of versions, CPU, int8 support, energy method and offline data/weights."""
    report = DoctorReport(_package_checks() + _machine_checks() + _offline_checks())
    if verbose:
        print(report.text())
    return report

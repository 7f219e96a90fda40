import os
import shutil

import lightlab as ll
from lightlab.face import selfcheck


def test_doctor_passes_here(capsys):
    report = ll.doctor()
    out = capsys.readouterr().out
    assert report.ok, report.text()
    for word in (
        "torch",
        "jupyterlab",
        "ipywidgets",
        "jupyterlab_widgets",
        "plotly",
        "codecarbon",
        "int8 instructions",
        "power meter",
        "energy method",
        "weights digits-large",
        "data digits",
    ):
        assert word in out


def test_doctor_reports_a_broken_weight_file_with_its_fix(tmp_path, monkeypatch):
    for name in ll.zoo.names():
        if name != "digits-large":
            shutil.copy(ll.zoo.weights_path(name), tmp_path / f"{name}.safetensors")
    monkeypatch.setattr(ll.config, "WEIGHTS_DIR", tmp_path)  # digits-large is now missing
    report = selfcheck.doctor(verbose=False)
    assert not report.ok
    bad = {c.name: c for c in report.problems()}
    assert set(bad) == {"weights digits-large"}
    assert "git checkout -- lightlab/weights/digits-large.safetensors" in bad["weights digits-large"].fix
    assert "fix:" in report.text()


def test_doctor_flags_a_version_mismatch(monkeypatch):
    real = selfcheck._version
    monkeypatch.setattr(selfcheck, "_version", lambda p: "7.0.0" if p == "ipywidgets" else real(p))
    bad = selfcheck.doctor(verbose=False).problems()
    assert [c.name for c in bad] == ["ipywidgets"] and "work together" in bad[0].fix


def _powercap(tmp_path):
    for zone in ("intel-rapl:0", "intel-rapl:1"):
        (tmp_path / zone).mkdir()
        (tmp_path / zone / "energy_uj").write_text("123456\n")
    return tmp_path


def test_power_meter_readable_rapl_is_measured(tmp_path):
    check = selfcheck.power_meter_check(_powercap(tmp_path))
    assert check.ok and check.found == "RAPL readable: energy is measured" and not check.hint


def test_power_meter_unreadable_rapl_gives_the_permission_fix(tmp_path, monkeypatch):
    powercap = _powercap(tmp_path)
    for counter in powercap.glob("*/energy_uj"):
        counter.chmod(0o000)  # what Linux does since 2020 (CVE-2020-8694): only root may read the counters
    if os.geteuid() == 0:  # root reads any file whatever its mode: make the check see what a user would
        monkeypatch.setattr(selfcheck, "_readable", lambda path: False)
    monkeypatch.setattr(selfcheck, "POWERCAP", powercap)
    report = selfcheck.doctor(verbose=False)
    check = next(c for c in report.checks if c.name == "power meter")
    assert check.ok  # energy still works, estimated: a hint, not a failure
    assert "not readable" in check.found and "estimated" in check.found and "2 counters" in check.found
    assert "sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj" in check.hint
    assert "hint: sudo chmod a+r" in report.text()


def test_power_meter_without_rapl_says_estimates_only(tmp_path):
    check = selfcheck.power_meter_check(tmp_path)  # an empty powercap folder: a VM, as on this machine
    assert check.ok and check.found.startswith("none: no RAPL") and "estimates only" in check.found
    assert selfcheck.power_meter_check(tmp_path / "absent").found == check.found

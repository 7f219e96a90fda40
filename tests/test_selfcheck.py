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

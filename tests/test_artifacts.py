"""Every file LightLab writes for a user to keep or ship names nothing of the machine that made it."""

from _privacy import local_paths

import lightlab as ll


def _leaks(path) -> list[str]:
    data = path.read_bytes()
    return [leak for leak in local_paths() if leak.encode() in data]


def test_weights_compressed_files_onnx_files_and_reports_carry_no_local_path(tmp_path, digits):
    model = ll.zoo.pretrained("digits-small")
    written = [
        tmp_path / "w.safetensors",
        ll.compress.save_compressed(model, path=tmp_path / "m.lldc").path,
        ll.onnx.OnnxModel(ll.onnx.export_onnx(model, digits.example(1))).save(tmp_path / "m.onnx"),
    ]
    ll.zoo.save(model, written[0])
    report = ll.measure.measure({"small": model}, digits, batch_sizes=(1,), repeats=2)
    written += [
        report.to_json(tmp_path / "r.json"),
        report.to_csv(tmp_path / "r.csv"),
        report.to_html(tmp_path / "r.html"),
    ]
    assert {p.name: _leaks(p) for p in written} == {p.name: [] for p in written}

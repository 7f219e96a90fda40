import pytest
import torch

import lightlab as ll
from lightlab.measurement import budget


def test_device_table_has_sources_and_lookup_names_the_choices():
    for device in budget.DEVICE_BUDGETS.values():
        assert device.ram > 0 and device.flash > device.ram and device.source
    assert budget.DEVICE_BUDGETS["MCU (nRF52840)"].ram == 256 * 1024
    assert budget.DEVICE_BUDGETS["MCU (nRF52840)"].flash == 1024**2
    with pytest.raises(ValueError, match="unknown device 'toaster'.*MCU \\(nRF52840\\)"):
        budget.lookup("toaster")
    with pytest.raises(ValueError, match="ram and flash in bytes, both > 0"):
        budget.Device("broken", ram=0, flash=1024, weights_in_ram=False, source="a test")


def test_fp32_needs_are_measured_from_the_file_and_the_layers(kws, kws_small):
    fit = budget.fits(kws_small, kws.example(8), "MCU (nRF52840)", name="small")
    assert fit.ok and fit.precision == "fp32"
    assert fit.flash_used == ll.measure.serialized_size(kws_small)
    # Flatten is a view: the first Linear reads the 32 x 13 input and writes 64 values, all float32; the weights
    # stay in flash on an MCU.
    assert fit.ram_used == (32 * 13 + 64) * 4 and "torch.export's graph" in fit.ram_method
    assert fit.message.startswith("small (fp32) fits MCU (nRF52840)")
    rows = fit.report()
    assert rows.value("small on MCU (nRF52840)", "flash_available") == 1024**2


def test_a_model_too_large_is_refused_with_the_overshoot(kws):
    large = ll.zoo.pretrained("spoken_digits-large")
    fit = budget.fits(large, kws.example(1), "MCU (nRF52840)", name="large")
    assert fit.fits_ram and not fit.fits_flash and not fit.ok
    over = (fit.flash_used - 1024**2) / 1024**2
    assert "does NOT fit" in fit.message and f"flash 6.09 MB of 1 MB (over by {over:.3g} MB)" in fit.message


def test_devices_that_load_weights_add_them_to_ram(kws, kws_small):
    mcu = budget.fits(kws_small, kws.example(1), "MCU (nRF52840)")
    phone = budget.fits(kws_small, kws.example(1), "phone (Pixel 8)")
    assert phone.ram_used == mcu.ram_used + mcu.flash_used
    own = budget.Device("tiny", ram=1024, flash=256 * 1024, weights_in_ram=False, source="made up for a test")
    fit = budget.fits(kws_small, kws.example(1), own)
    assert not fit.fits_ram and fit.fits_flash and "RAM 1.88 KB of 1 KB (over by 896 B)" in fit.message


def test_wrong_input_is_a_clear_error(kws_small, digits):
    with pytest.raises(ValueError, match="does not accept inputs of shape \\[1, 8, 8\\]"):
        budget.fits(kws_small, digits.example(1), "MCU (nRF52840)")


def test_int8_activations_are_counted_as_onnx_runtime_runs_them(kws):
    cnn = ll.zoo.cnn((1, 32, 13), 10, channels=(4, 8), hidden=16)
    int8 = ll.quantize.quantize(cnn, ll.quantize.QuantConfig(backend="onnxruntime", calibration=kws))
    # PyTorch: the ReLU after the second conv holds 8 x 416 float32 values in and 8 x 416 out.
    assert budget.activation_bytes(cnn, kws.example(1)) == 16 * 416 * 4
    # int8: the ReLU is folded into the conv, which reads 4 x 416 and writes 8 x 416 values of one byte each.
    assert budget.activation_bytes(int8, kws.example(1)) == 12 * 416


def test_onnx_models_are_recognised_by_their_bytes_not_their_class(kws, kws_small):
    class Wrapped(torch.nn.Module):  # any module with an .onnx file counts as one, as for measure.file_size
        def __init__(self, inner):
            super().__init__()
            self.inner, self.onnx_bytes = inner, inner.onnx_bytes

        def forward(self, x):
            return self.inner(x)

    int8 = ll.quantize.quantize(kws_small, ll.quantize.QuantConfig(backend="onnxruntime", calibration=kws))
    fit = budget.fits(Wrapped(int8), kws.example(1), "MCU (nRF52840)")
    assert fit.flash_used == len(int8.onnx_bytes) and "operators of the .onnx graph" in fit.ram_method
    assert fit.ram_used == budget.activation_bytes(int8, kws.example(1))


def test_format_bytes_never_writes_e_notation():
    assert budget.format_bytes(512) == "512 B" and budget.format_bytes(3.25 * 1024) == "3.25 KB"
    assert budget.format_bytes(1020 * 1024) == "1,020 KB" and budget.format_bytes(6.09 * 1024**2) == "6.09 MB"


def test_a_skip_connection_keeps_its_input_alive_in_the_ram_estimate():
    class Residual(torch.nn.Module):  # an inverted residual block: 4 channels widened to 16 and back, plus x
        def __init__(self):
            super().__init__()
            self.wide, self.narrow = torch.nn.Conv2d(4, 16, 1), torch.nn.Conv2d(16, 4, 1)

        def forward(self, x):
            return x + self.narrow(torch.relu(self.wide(x)))

    fp32 = ll.onnx.OnnxModel(ll.onnx.export_onnx(Residual().eval(), torch.rand(1, 4, 8, 8)))
    # By hand, in float32 at 8 x 8: x is 1 KB, the wide tensors 4 KB each. While the ReLU runs, x (kept for the
    # sum), the wide conv's output and the ReLU's output are alive: 1 + 4 + 4 KB. Input+output alone would say 8 KB.
    assert budget.activation_bytes(fp32, torch.rand(1, 4, 8, 8)) == (1 + 4 + 4) * 1024


def test_a_pytorch_skip_connection_is_counted_and_a_model_torch_export_cannot_trace_falls_back():
    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.wide, self.narrow = torch.nn.Conv2d(4, 16, 1), torch.nn.Conv2d(16, 4, 1)

        def forward(self, x):
            return x + self.narrow(torch.relu(self.wide(x)))

    # The same hand count as for the .onnx file: x (kept for the sum) 1 KB, the wide conv's output and the ReLU's 4 KB.
    assert budget.activation_bytes(Residual().eval(), torch.rand(1, 4, 8, 8)) == (1 + 4 + 4) * 1024

    class Branchy(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x) if float(x.sum()) > 0 else x

    ram, how = budget.ram_estimate(Branchy(), torch.rand(1, 4, 8, 8))
    assert ram == 2 * 1024 and "forward hooks; torch.export failed" in how


def test_the_exported_steps_and_the_liveness_walk_are_shared_primitives():
    class Block(torch.nn.Module):  # a depthwise conv, a view, a skip
        def __init__(self):
            super().__init__()
            self.dw = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4)

        def forward(self, x):
            return (torch.relu(self.dw(x)) + x).flatten(1)

    steps, outputs = budget.exported_steps(Block().eval(), torch.rand(1, 4, 8, 8))
    # The flatten is a view: no step of its own, and the output is the tensor it shows.
    assert [(s.name, s.kind, s.reads) for s in steps] == [
        ("x", "input", ()),
        ("conv2d", "depthwise_conv2d", ("x",)),
        ("relu", "relu", ("conv2d",)),
        ("add", "add", ("relu", "x")),
    ]
    assert outputs == ("add",) and steps[1].module == "dw" and steps[1].nbytes == 4 * 64 * 4
    # x is held for the add; a tensor written and never read dies at once unless it is an output.
    assert budget.alive([{"x"}, {"x", "a"}, {"a", "b"}, {"b", "x", "c"}], outputs={"c"}) == [
        {"x"},
        {"x", "a"},
        {"x", "a", "b"},
        {"x", "b", "c"},
    ]

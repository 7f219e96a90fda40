"""A model and data set "of the user's" in every safe file format, shared by the tests of the own-model path."""

import sys
import textwrap

import numpy as np
import pytest
import torch

import lightlab as ll

MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                      nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))

        def forward(self, x):
            return torch.relu(x + self.body(x))


    def build():
        return nn.Sequential(nn.Conv2d(1, 24, 3, padding=1), nn.ReLU(), Block(24), Block(24),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(24, 10))


    def student():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    """
)


@pytest.fixture(scope="session")
def own_files(tmp_path_factory, digits):
    """A small residual CNN of 'the user's', trained briefly on the real digits, saved in every safe format."""
    folder = tmp_path_factory.mktemp("own")
    (folder / "my_models.py").write_text(MODULE)
    sys.path.insert(0, str(folder))
    import my_models

    torch.manual_seed(0)
    model = my_models.build()
    ll.train.fit_(model, digits, epochs=8, lr=1e-2, progress=False)
    model.eval()
    x = digits.example(1)
    torch.jit.save(torch.jit.script(model), folder / "scripted.pt")
    batch = ({0: torch.export.Dim("batch")},)  # any batch size, as measuring times batches of 1 and 64
    torch.export.save(torch.export.export(model, (digits.example(2),), dynamic_shapes=batch), folder / "exported.pt2")
    torch.save(model.state_dict(), folder / "weights.pt")
    from safetensors.torch import save_file

    save_file(model.state_dict(), folder / "weights.safetensors")
    (folder / "model.onnx").write_bytes(ll.onnx.export_onnx(model, x))
    torch.save(model, folder / "pickled.pt")  # the unsafe format
    every = [torch.cat(parts) for parts in zip(*(s.tensors for s in digits.splits.values()), strict=True)]
    np.savez(folder / "digits.npz", x=every[0].numpy(), y=every[1].numpy())  # the user's whole data set
    yield folder, model
    sys.path.remove(str(folder))
    sys.modules.pop("my_models", None)

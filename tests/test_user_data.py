"""Your data from a file (ll.user_data): .npz, .csv and image folders become Tasks; malformed files are named."""

import numpy as np
import pytest

from lightlab.data.tasks import DataError
from lightlab.data.user_data import load_data


def test_data_files_become_tasks(own_files, tmp_path, digits):
    folder, _ = own_files
    task = load_data(folder / "digits.npz")
    assert task.input_shape == (1, 8, 8) and task.num_classes == 10
    assert sum(task.sizes().values()) == sum(digits.sizes().values())
    rng = np.random.default_rng(0)
    table = "a,b,y\n" + "\n".join(f"{rng.normal():.3f},{rng.normal():.3f},{i % 2}" for i in range(40))
    (tmp_path / "sensor.csv").write_text(table)
    assert load_data(tmp_path / "sensor.csv").input_shape == (2,)
    (tmp_path / "bad.csv").write_text("a,label\n1,0\n")
    with pytest.raises(DataError, match="name the label column y"):
        load_data(tmp_path / "bad.csv")
    np.savez(tmp_path / "wrong.npz", inputs=np.zeros((5, 2)), labels=np.zeros(5))
    with pytest.raises(DataError, match=r"holds arrays \['inputs', 'labels'\]; name the inputs x"):
        load_data(tmp_path / "wrong.npz")


def test_a_folder_of_images_becomes_a_task(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, colour in (("red", 0), ("green", 1)):
        (tmp_path / c).mkdir()
        for i in range(6):
            pixels = np.zeros((20, 30, 3), np.uint8)
            pixels[..., colour] = rng.integers(150, 255)
            Image.fromarray(pixels).save(tmp_path / c / f"{i}.png")
    task = load_data(tmp_path, image_size=16)
    assert task.classes == ["green", "red"] and task.input_shape == (3, 16, 16)
    assert sum(task.sizes().values()) == 12

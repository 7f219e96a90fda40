"""photos: real photographs from installed wheels, read offline, split apart, cropped and scaled deterministically."""

import socket

import numpy as np
import pytest
import torch

import lightlab as ll
from lightlab.data import photos
from lightlab.data.tasks import DataError


def test_splits_never_share_a_photo():
    test, calibration = photos.names("test"), photos.names("calibration")
    assert test == ["china", "flower", "astronaut", "coffee", "chelsea", "rocket", "motorcycle"]
    assert len(calibration) == 9 and not set(test) & set(calibration)
    assert photos.names() == test + calibration
    assert set(photos.LABELS) <= set(test) and set(photos.LABELS.values()) <= set(photos.CLASS_NAMES)
    assert ll.photos is photos


def test_every_photo_loads_with_the_network_cut(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network cut by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for split in photos.SPLITS:
        for name, image in photos.images(split).items():
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
            assert min(image.shape[:2]) >= 224, name  # every crop is a downscale
    assert photos.image("china").shape == (427, 640, 3)
    assert photos.image("camera").shape == (512, 512, 3)  # a grey photo, given as RGB


def test_centre_crop_keeps_the_middle_and_scales_as_efficientnet_lite_expects():
    grey = np.full((300, 400, 3), 127, dtype=np.uint8)
    grey[:, :60] = 255  # a white band left of the centre square (87.5 % of 300 = 262 px, from x = 69)
    crop = photos.centre_crop(grey)
    assert crop.shape == (224, 224, 3) and (crop == 127).all()
    x = photos.to_tensor([crop, np.full((224, 224, 3), 255, np.uint8)])
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32
    assert x[0].abs().max() == 0 and x[1].max().item() == pytest.approx(1.0)  # (pixel - 127) / 128


def test_inputs_put_each_centre_crop_first_and_are_seeded():
    two = {name: photos.image(name) for name in ("china", "flower")}
    x = photos.efficientnet_inputs(two, views=3, seed=5)
    assert x.shape == (8, 3, 224, 224)
    assert torch.equal(x[4], photos.to_tensor([photos.centre_crop(two["flower"])])[0])
    assert torch.equal(x, photos.efficientnet_inputs(two, views=3, seed=5))
    assert not torch.equal(x, photos.efficientnet_inputs(two, views=3, seed=6))
    assert x.min() >= -127 / 128 and x.max() <= 1.0
    crops = photos.random_crops(two["china"], 4, size=32, seed=0)
    assert len(crops) == 4 and all(c.shape == (32, 32, 3) for c in crops)


def test_errors_say_what_exists():
    with pytest.raises(DataError, match="unknown photo 'eagle'; available: china, flower"):
        photos.image("eagle")
    with pytest.raises(DataError, match=r"unknown split 'train'.*'test', 'calibration'"):
        photos.names("train")
    with pytest.raises(DataError, match="views must be a whole number >= 0"):
        photos.efficientnet_inputs({"china": photos.image("china")}, views=-1)

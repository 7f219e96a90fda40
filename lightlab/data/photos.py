"""Real photographs that ship inside installed packages (scikit-learn, scikit-image): nothing is downloaded.

``images(split)`` returns named uint8 RGB arrays; ``efficientnet_inputs`` turns them into EfficientNet-Lite0's
224 x 224 inputs (a centre crop, plus seeded random crops if asked). Two splits that never share a photo:
``test``, everyday scenes and objects a pretrained ImageNet model is evaluated on, and ``calibration``, other photos
(space, medical, microscopy, grey textures) to calibrate int8 activation ranges on, so calibration never sees a
test photo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from lightlab.data.tasks import DataError

SPLITS = ("test", "calibration")


def _sklearn(file: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image  # reads the JPEG with Pillow

        return load_sample_image(file)

    return load


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        return image[0] if name == "stereo_motorcycle" else image  # (left, right, disparity): the left view

    return load


# Only photos bundled in the wheels: skimage.data fetches some others over the network (eagle, lily, kidney...).
# Sources and licences as the packages state them: sklearn/datasets/images/README.txt, the skimage.data docstrings.
SOURCES: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "china": ("test", _sklearn("china.jpg")),  # the Summer Palace, Beijing; Flickr, CC BY 2.0
    "flower": ("test", _sklearn("flower.jpg")),  # a daisy; Flickr, CC BY 2.0
    "astronaut": ("test", _skimage("astronaut")),  # Eileen Collins; NASA, public domain
    "coffee": ("test", _skimage("coffee")),  # a cup of coffee; CC0
    "chelsea": ("test", _skimage("chelsea")),  # Chelsea the cat; CC0
    "rocket": ("test", _skimage("rocket")),  # DSCOVR on a Falcon 9 at launch; SpaceX, public domain
    "motorcycle": ("test", _skimage("stereo_motorcycle")),  # Middlebury 2014 stereo benchmark, left view
    "hubble": ("calibration", _skimage("hubble_deep_field")),  # NASA, public domain
    "retina": ("calibration", _skimage("retina")),  # CC0
    "microscopy": ("calibration", _skimage("immunohistochemistry")),  # colonic glands, stained
    "camera": ("calibration", _skimage("camera")),  # grey; CC0
    "coins": ("calibration", _skimage("coins")),  # Greek coins from Pompeii, grey
    "moon": ("calibration", _skimage("moon")),  # the moon's surface, grey
    "grass": ("calibration", _skimage("grass")),  # grey texture; CC0
    "gravel": ("calibration", _skimage("gravel")),  # grey texture; CC0
    "brick": ("calibration", _skimage("brick")),  # grey texture; CC0
}

# The ImageNet-1k class a person would give, for the photos where one class clearly fits.
LABELS = {"china": 698, "flower": 985}

# Names of the ImageNet-1k classes met in these photos' top predictions, checked by index against torchvision's
# category list (no installed package ships the 1,000 names); other classes are shown by index.
CLASS_NAMES = {
    281: "tabby",
    282: "tiger cat",
    285: "Egyptian cat",
    560: "football helmet",
    657: "missile",
    665: "moped",
    670: "motor scooter",
    698: "palace",
    744: "projectile",
    967: "espresso",
    968: "cup",
    985: "daisy",
}

MEAN, STD = 127.0, 128.0  # EfficientNet-Lite's input scaling: (pixel - 127) / 128
CROP = 0.875  # the centre crop keeps 87.5 % of the short side (224 of 256), as EfficientNet is evaluated


def names(split: str | None = None) -> list[str]:
    """Return the photo names of ``split`` ('test' or 'calibration'), or of both."""
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r} of the photos; use one of {list(SPLITS)}")
    return [name for name, (where, _) in SOURCES.items() if split in (None, where)]


def _rgb(image: np.ndarray) -> np.ndarray:
    """Return a grey, RGB or RGBA uint8 image as H x W x 3 RGB."""
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def image(name: str) -> np.ndarray:
    """Return one photo as an H x W x 3 uint8 RGB array, or raise naming the photos and how to install them."""
    if name not in SOURCES:
        raise DataError(f"unknown photo {name!r}; available: {', '.join(names())}")
    try:
        return _rgb(SOURCES[name][1]())
    except ImportError as err:
        raise DataError(
            f"photo {name!r} ships inside scikit-learn or scikit-image, which need Pillow: "
            f"`pip install scikit-image` ({err})"
        ) from err


def images(split: str = "test") -> dict[str, np.ndarray]:
    """Return {name: H x W x 3 uint8 RGB array} for every photo of ``split``, in a fixed order."""
    return {name: image(name) for name in names(split)}


def _view(photo: np.ndarray, box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """Return the ``box`` (left, top, right, bottom) of ``photo`` resized to size x size (bicubic, Pillow)."""
    from PIL import Image

    return np.asarray(Image.fromarray(photo).resize((size, size), Image.Resampling.BICUBIC, box=box))


def centre_crop(photo: np.ndarray, size: int = 224) -> np.ndarray:
    """Return the central square (``CROP`` of the short side) of ``photo`` resized to size x size."""
    h, w = photo.shape[:2]
    side = CROP * min(h, w)
    return _view(photo, ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2), size)


def random_crops(photo: np.ndarray, n: int, size: int = 224, seed: int = 0) -> list[np.ndarray]:
    """Return ``n`` seeded random squares (40-100 % of the short side, half of them mirrored), each size x size."""
    rng = np.random.default_rng(seed)
    h, w = photo.shape[:2]
    out = []
    for _ in range(n):
        side = rng.uniform(0.4, 1.0) * min(h, w)
        left, top = rng.uniform(0, w - side), rng.uniform(0, h - side)
        view = _view(photo, (left, top, left + side, top + side), size)
        out.append(view[:, ::-1] if rng.random() < 0.5 else view)
    return out


def to_tensor(views: list[np.ndarray]) -> torch.Tensor:
    """Return uint8 H x W x 3 views as one float32 N x 3 x H x W batch scaled as EfficientNet-Lite expects."""
    batch = torch.from_numpy(np.stack(views).astype(np.float32)).permute(0, 3, 1, 2).contiguous()
    return (batch - MEAN) / STD


def efficientnet_inputs(photos: Mapping[str, np.ndarray], views: int = 0, seed: int = 0) -> torch.Tensor:
    """Return each photo's centre crop followed by ``views`` random crops of it, as one EfficientNet-Lite batch."""
    if not isinstance(views, int) or views < 0:
        raise DataError(f"views must be a whole number >= 0 of random crops per photo, got {views!r}")
    batch = []
    for i, photo in enumerate(photos.values()):
        batch += [centre_crop(photo), *random_crops(photo, views, seed=seed + i)]
    return to_tensor(batch)

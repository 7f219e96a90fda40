"""The CNN of notebook 24 (a stem and three MobileNetV2 blocks, two with a skip connection), seeded and folded."""

from torch import nn

import lightlab as ll
from lightlab.models import blocks


def faces_cnn(seed: int = 0) -> nn.Sequential:
    """Return notebook 24's architecture, untrained (memory depends on shapes only), BatchNorm folded, eval mode."""
    ll.config.seed_everything(seed)
    model = nn.Sequential(
        blocks.standard_conv(1, 16),
        blocks.InvertedResidual(16, 16, expand=4),
        blocks.InvertedResidual(16, 24, stride=2, expand=4),
        blocks.InvertedResidual(24, 24, expand=4),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(24, 2),
    )
    return ll.nas_space.fold_batchnorm(model)

"""The demo's classifier: a small CNN, importable so it can be exported by import path.

``chori export --arch chori_torch.demo_model:build`` is the route any user's own architecture
takes, and the demo deliberately goes through it rather than a torchvision name.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Three conv blocks and global average pooling: any input size of at least 4x4 works."""

    def __init__(self, num_classes: int = 2, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _block(3, width),
            nn.MaxPool2d(2),
            _block(width, 2 * width),
            nn.MaxPool2d(2),
            _block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build(num_classes: int = 2) -> SmallCNN:
    """Factory for ``--arch chori_torch.demo_model:build``."""
    return SmallCNN(num_classes=num_classes)

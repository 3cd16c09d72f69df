"""A plain PyTorch ResNet-50, the framework baseline of ``benchmark.py --against-upstream``.

The same network as GluonCV's ``resnet50_v1b`` (and torchvision's ``resnet50``, which is not
installable beside torch 2.13 CPU here): 7x7 stem, max-pool, bottlenecks [3, 4, 6, 3] with the
stride on the 3x3 convolution and a strided 1x1 projection shortcut, global average pooling and
a linear classifier. It is written here, not taken from upstream code.
"""
from torch import nn

__all__ = ['resnet50']


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 with BatchNorm, plus the identity or a projection."""

    expansion = 4

    def __init__(self, in_channels, width, stride):
        super().__init__()
        out = width * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = nn.Identity() if stride == 1 and in_channels == out else nn.Sequential(
            nn.Conv2d(in_channels, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def resnet50(classes=1000, layers=(3, 4, 6, 3)):
    """ResNet-50 (v1.5 strides) as a ``torch.nn.Sequential``."""
    blocks = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
              nn.MaxPool2d(3, 2, 1)]
    channels = 64
    for stage, count in enumerate(layers):
        width = 64 * 2 ** stage
        for i in range(count):
            blocks.append(Bottleneck(channels, width, 2 if i == 0 and stage > 0 else 1))
            channels = width * Bottleneck.expansion
    blocks += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes)]
    return nn.Sequential(*blocks)

"""VGG16 and ResNet-50 in plain PyTorch, for the training-throughput comparison.

The same layers as `keras_cnns.get_model("vgg16", dropout=0)` and
`get_model("resnet50")` (and keras.applications' VGG16 / ResNet50): the same
convolutions, biases, batch norms, poolings and classifier, so that a PyTorch
training step does the same arithmetic as a Keras one. Written here from the
papers' tables (Simonyan & Zisserman 2014, Table 1 D; He et al. 2015,
Table 1), not taken from torchvision, which does not install beside the CPU
build of torch this machine has. Only `bench_training.py` imports it.
"""

import torch
from torch import nn

VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
RESNET50_STAGES = ((64, 3), (128, 4), (256, 6), (512, 3))  # (bottleneck width, blocks)
BN_EPSILON = 1.001e-5  # As keras.applications' ResNet50.


def vgg16(image_size, classes):
    """VGG16 as keras.applications builds it (ReLU convolutions with biases, no dropout)."""
    layers, channels = [], 3
    for block in VGG16_BLOCKS:
        for filters in block:
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(inplace=True)]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    side = image_size // 32
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(512 * side * side, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, classes),
    )


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck with a projection shortcut where the shape changes;
    the stride sits on the first 1x1 convolution, as in keras.applications."""

    def __init__(self, in_channels, width, stride):
        super().__init__()
        out_channels = 4 * width
        self.residual = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, stride=stride),
            nn.BatchNorm2d(width, eps=BN_EPSILON), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width, eps=BN_EPSILON), nn.ReLU(inplace=True),
            nn.Conv2d(width, out_channels, 1),
            nn.BatchNorm2d(out_channels, eps=BN_EPSILON),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride),
                nn.BatchNorm2d(out_channels, eps=BN_EPSILON),
            )

    def forward(self, x):
        return torch.relu(self.residual(x) + self.shortcut(x))


def resnet50(classes):
    """ResNet-50 as keras.applications builds it (convolution biases included)."""
    layers = [
        nn.Conv2d(3, 64, 7, stride=2, padding=3),
        nn.BatchNorm2d(64, eps=BN_EPSILON), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    channels = 64
    for stage, (width, blocks) in enumerate(RESNET50_STAGES):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(Bottleneck(channels, width, stride))
            channels = 4 * width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, classes))


def build(name, image_size, classes):
    """`"vgg16"` or `"resnet50"` for `image_size` x `image_size` RGB images."""
    if name == "vgg16":
        return vgg16(image_size, classes)
    if name == "resnet50":
        return resnet50(classes)
    raise ValueError(f"No PyTorch reference for {name!r}; there are 'vgg16' and 'resnet50'.")


def count_parameters(model):
    """Trainable parameters (PyTorch keeps batch-norm statistics as buffers)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

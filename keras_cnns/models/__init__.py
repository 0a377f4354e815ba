"""Architecture families, one module each. Importing this package registers
every named variant with `keras_cnns.registry`."""

from keras_cnns.models.alexnet import build_alexnet
from keras_cnns.models.allconv import build_allconv
from keras_cnns.models.googlenet import build_googlenet
from keras_cnns.models.lenet import build_lenet5
from keras_cnns.models.nin import build_nin
from keras_cnns.models.resnet import build_cifar_resnet, build_resnet
from keras_cnns.models.vgg import build_vgg

__all__ = [
    "build_alexnet",
    "build_allconv",
    "build_cifar_resnet",
    "build_googlenet",
    "build_lenet5",
    "build_nin",
    "build_resnet",
    "build_vgg",
]

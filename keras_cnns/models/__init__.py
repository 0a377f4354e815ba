"""Architecture families, one module each, on one skeleton (`base`).

Importing this package registers every named variant with
`keras_cnns.registry`. `base.build_network` owns what every network shares
(the keras.applications arguments, their checks, the inputs, the head, the
weights); each family module holds its architecture as data and a
`base.Backbone` that builds its features.
"""

from keras_cnns.models.alexnet import AlexNet, build_alexnet
from keras_cnns.models.allconv import AllConv, build_allconv
from keras_cnns.models.base import Backbone, build_network
from keras_cnns.models.googlenet import GoogLeNet, build_googlenet
from keras_cnns.models.lenet import LeNet5, build_lenet5
from keras_cnns.models.nin import NetworkInNetwork, build_nin
from keras_cnns.models.resnet import ResNet, build_cifar_resnet, build_resnet
from keras_cnns.models.vgg import VGG, build_vgg

__all__ = [
    "AlexNet",
    "AllConv",
    "Backbone",
    "GoogLeNet",
    "LeNet5",
    "NetworkInNetwork",
    "ResNet",
    "VGG",
    "build_alexnet",
    "build_allconv",
    "build_cifar_resnet",
    "build_googlenet",
    "build_lenet5",
    "build_network",
    "build_nin",
    "build_resnet",
    "build_vgg",
]

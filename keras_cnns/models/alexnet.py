"""AlexNet: Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with
Deep Convolutional Neural Networks" (NeurIPS 2012).

The single-stream form: the paper's two GPU halves merged into one stream with
the same total widths (96, 256, 384, 384, 256 filters; 4096, 4096 units),
227x227 inputs, 62,378,344 parameters with 1000 classes. Local response
normalization is left out (pass `batch_norm=True` for the modern replacement).
"""

from keras_cnns.blocks import conv_bn_act, downsample
from keras_cnns.models import base
from keras_cnns.models.sizes import conv_output_size, smallest_input_size
from keras_cnns.registry import register_variant

PAPER = "Krizhevsky et al. 2012, ImageNet Classification with Deep Convolutional Neural Networks"

# (filters, kernel, stride, padding, followed by a 3x3/2 pooling)
CONVOLUTIONS = (
    (96, 11, 4, "valid", True),
    (256, 5, 1, "same", True),
    (384, 3, 1, "same", False),
    (384, 3, 1, "same", False),
    (256, 3, 1, "same", True),
)
HIDDEN_UNITS = 4096  # fc1 and fc2.


class AlexNet(base.Backbone):
    """AlexNet, single stream.

    Layers: ``conv1`` ... ``conv5`` (each ``convN_conv``), poolings ``pool1``,
    ``pool2``, ``pool5``, then ``flatten``, ``fc1``, ``fc2`` and ``predictions``.
    Default input 227x227x3; the paper's `dropout` after ``fc1`` and ``fc2``
    is 0.5.

    Args:
        batch_norm: Batch norm after every convolution.
        width_multiplier: Scales every layer's width.
        downsampling: The overlapping 3x3/2 poolings: `"max_pool"` (the paper),
            `"avg_pool"` or `"strided_conv"`.
    """

    family = "alexnet"
    paper = PAPER
    year = 2012
    default_input_shape = (227, 227, 3)
    default_dropout = 0.5

    def __init__(self, *, batch_norm=False, width_multiplier=1.0, downsampling="max_pool"):
        base.set_plain_knobs(self, batch_norm=batch_norm, width_multiplier=width_multiplier,
                             downsampling=downsampling)

    def min_input_size(self):
        def last_map(size):
            for _, kernel, stride, padding, pooled in CONVOLUTIONS:
                size = conv_output_size(size, kernel, stride, padding)
                if pooled:
                    size = conv_output_size(size, 3, 2, "valid")
            return size

        return smallest_input_size(last_map)

    def features(self, x, dropout):
        for i, (filters, kernel, stride, padding, pooled) in enumerate(CONVOLUTIONS, start=1):
            x = conv_bn_act(x, base.scaled(filters, self.width_multiplier), kernel, strides=stride,
                            padding=padding, batch_norm=self.batch_norm, name=f"conv{i}")
            if pooled:
                x = downsample(x, self.downsampling, pool_size=3, strides=2, batch_norm=self.batch_norm,
                               name=f"pool{i}")
        return x

    def top(self, dropout):
        fc = base.scaled(HIDDEN_UNITS, self.width_multiplier)
        return {"hidden_units": (fc, fc), "dropout_rate": dropout, "flatten": True}


def build_alexnet(**kwargs):
    """Builds AlexNet: `AlexNet`'s knobs and every network's arguments (`keras_cnns.models.base`)."""
    return base.build(AlexNet, "alexnet", kwargs)


register_variant("alexnet", AlexNet, num_params=62_378_344)

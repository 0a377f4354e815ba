"""LeNet-5: LeCun et al. 1998, "Gradient-Based Learning Applied to Document
Recognition" (https://doi.org/10.1109/5.726791).

The common C1-S2-C3-S4-C5-F6 form: C3 connects to every S2 map (the paper's
partial connection table is left out) and S2/S4 are plain average poolings
(the paper's trainable subsampling coefficients are left out). At 32x32x1 with
10 classes it has 61,706 parameters.
"""

from keras_cnns.blocks import conv_bn_act, downsample
from keras_cnns.models import base
from keras_cnns.models.sizes import conv_output_size, smallest_input_size
from keras_cnns.registry import register_variant

PAPER = "LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition"
# C1 5x5, S2 2/2, C3 5x5, S4 2/2, C5 5x5, all valid: (kernel, stride).
LAYERS = ((5, 1), (2, 2), (5, 1), (2, 2), (5, 1))


class LeNet5(base.Backbone):
    """LeNet-5's C1 to C5, and F6 as the classifier's hidden layer.

    Layers: ``c1`` (6 5x5 convolutions), ``s2`` (2x2 subsampling), ``c3`` (16),
    ``s4``, ``c5`` (120 5x5 convolutions: 1x1 maps at 32x32), then ``fc1``
    (F6, 84 units) and ``predictions``. Default input 32x32x1, at least
    32x32 (pad 28x28 digits to 32x32, as LeCun et al. did).

    Args:
        activation: Hidden activation; the paper uses a scaled tanh.
        batch_norm: Batch norm after every convolution.
        width_multiplier: Scales every layer's width.
        downsampling: `"avg_pool"` (the paper's subsampling), `"max_pool"` or
            `"strided_conv"`.
    """

    family = "lenet"
    paper = PAPER
    year = 1998
    default_input_shape = (32, 32, 1)
    default_classes = 10

    def __init__(self, *, activation="tanh", batch_norm=False, width_multiplier=1.0, downsampling="avg_pool"):
        base.set_plain_knobs(self, batch_norm=batch_norm, width_multiplier=width_multiplier,
                             downsampling=downsampling)
        self.activation = activation

    def min_input_size(self):
        def last_map(size):
            for kernel, stride in LAYERS:
                size = conv_output_size(size, kernel, stride, "valid")
            return size

        return smallest_input_size(last_map)

    def features(self, x, dropout):
        width = lambda filters: base.scaled(filters, self.width_multiplier)  # noqa: E731
        conv = dict(padding="valid", batch_norm=self.batch_norm, activation=self.activation)
        pool = dict(batch_norm=self.batch_norm, activation=self.activation)
        x = conv_bn_act(x, width(6), 5, name="c1", **conv)
        x = downsample(x, self.downsampling, name="s2", **pool)
        x = conv_bn_act(x, width(16), 5, name="c3", **conv)
        x = downsample(x, self.downsampling, name="s4", **pool)
        return conv_bn_act(x, width(120), 5, name="c5", **conv)

    def top(self, dropout):
        return {"hidden_units": (base.scaled(84, self.width_multiplier),), "hidden_activation": self.activation,
                "dropout_rate": dropout, "flatten": True}


def build_lenet5(**kwargs):
    """Builds LeNet-5: `LeNet5`'s knobs and the arguments of every network (`keras_cnns.models.base`).

    At 32x32x1 with 10 classes it has 61,706 parameters.
    """
    return base.build(LeNet5, "lenet5", kwargs)


register_variant("lenet5", LeNet5, num_params=61_706)

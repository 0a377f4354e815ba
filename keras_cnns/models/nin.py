"""Network in Network: Lin, Chen & Yan 2013 (https://arxiv.org/abs/1312.4400).

The CIFAR-10 network of the paper: three mlpconv layers, each a spatial
convolution followed by two 1x1 convolutions, with max pooling and dropout
between them, and global average pooling over per-class maps instead of
fully connected layers. Its natural head is therefore the fully-convolutional
one (`head="conv"`, `pooling="avg"`).
"""

from keras_cnns.blocks import downsample, nin_block
from keras_cnns.models import base
from keras_cnns.registry import register_variant

PAPER = "Lin et al. 2013, Network In Network"

# (kernel, filters, 1x1 filters); the last block's final 1x1 convolution is
# the classifier (``predictions_conv``).
MLPCONV_LAYERS = ((5, 192, (160, 96)), (5, 192, (192, 192)), (3, 192, (192,)))


class NetworkInNetwork(base.Backbone):
    """Network in Network's three mlpconv layers.

    Layers: ``block1`` ... ``block3`` (each ``blockN_conv``, ``blockN_mlp1_conv``,
    ...), poolings ``block1_pool`` and ``block2_pool`` (3x3/2) each followed
    by `dropout` (the paper: 0.5), then ``predictions_conv`` and ``avg_pool``
    (the default head: `head="conv"`, `pooling="avg"`). Default input
    32x32x3, at least 4x4.

    Args:
        batch_norm: Batch norm after every convolution (the paper has none).
        width_multiplier: Scales every layer's width.
        downsampling: `"max_pool"` (the paper), `"avg_pool"` or `"strided_conv"`.
    """

    family = "nin"
    paper = PAPER
    year = 2013
    default_input_shape = (32, 32, 3)
    default_classes = 10
    default_pooling = "avg"
    default_head = "conv"
    default_dropout = 0.5

    def __init__(self, *, batch_norm=False, width_multiplier=1.0, downsampling="max_pool"):
        base.set_plain_knobs(self, batch_norm=batch_norm, width_multiplier=width_multiplier,
                             downsampling=downsampling)

    def min_input_size(self):
        return 4  # Two "same" 3x3/2 poolings leave 1x1 of 4x4.

    def features(self, x, dropout):
        for i, (kernel, filters, mlp_filters) in enumerate(MLPCONV_LAYERS, start=1):
            x = nin_block(x, base.scaled(filters, self.width_multiplier), kernel,
                          [base.scaled(f, self.width_multiplier) for f in mlp_filters],
                          batch_norm=self.batch_norm, name=f"block{i}")
            if i < len(MLPCONV_LAYERS):
                x = downsample(x, self.downsampling, pool_size=3, strides=2, padding="same",
                               batch_norm=self.batch_norm, name=f"block{i}_pool")
                x = base.dropout_layer(x, dropout, name=f"block{i}_dropout")
        return x

    def top(self, dropout):
        return {"flatten": True}  # The paper's dropout is inside the features.


def build_nin(**kwargs):
    """Builds Network in Network: `NetworkInNetwork`'s knobs and every network's arguments (`keras_cnns.models.base`)."""
    return base.build(NetworkInNetwork, "nin", kwargs)


register_variant("nin", NetworkInNetwork, num_params=966_986)

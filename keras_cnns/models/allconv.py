"""All-CNN-C: Springenberg et al. 2014, "Striving for Simplicity: The All
Convolutional Net" (https://arxiv.org/abs/1412.6806).
Max pooling replaced by 3x3 convolutions with stride 2, and the fully
connected layers by 1x1 convolutions and global average pooling: a network
made of convolutions only (1.37M parameters for CIFAR-10).
"""


from keras_cnns.blocks import conv_bn_act, downsample
from keras_cnns.models import base
from keras_cnns.models.sizes import conv_output_size, smallest_input_size
from keras_cnns.registry import register_variant

PAPER = "Springenberg et al. 2014, Striving for Simplicity: The All Convolutional Net"

# Table 2, model C: two 3x3 convolutions then a stride-2 reduction, twice.
STAGES = (96, 192)


class AllConv(base.Backbone):
    """All-CNN-C: convolutions only.

    Layers: ``stage1_conv1``, ``stage1_conv2``, ``stage1_down`` (3x3/2), the
    same for ``stage2``, then ``top_conv1`` (3x3 valid), ``top_conv2`` (1x1),
    ``predictions_conv`` and ``avg_pool`` (the default head: `head="conv"`,
    `pooling="avg"`). `dropout` (the paper: 0.5) follows each reduction.
    Default input 32x32x3, at least 9x9.

    Args:
        batch_norm: Batch norm after every convolution (the paper has none).
        width_multiplier: Scales every layer's width.
        input_dropout: Dropout on the input image (the paper: 0.2).
        downsampling: `"strided_conv"` (All-CNN-C), `"max_pool"` (the paper's
            Model C with pooling) or `"avg_pool"`.
    """

    family = "allconv"
    paper = PAPER
    year = 2014
    default_input_shape = (32, 32, 3)
    default_classes = 10
    default_pooling = "avg"
    default_head = "conv"
    default_dropout = 0.5

    def __init__(self, *, batch_norm=False, width_multiplier=1.0, input_dropout=0.2, downsampling="strided_conv"):
        base.set_plain_knobs(self, batch_norm=batch_norm, width_multiplier=width_multiplier,
                             downsampling=downsampling)
        base.check_dropout(input_dropout, "input_dropout")
        self.input_dropout = input_dropout

    def min_input_size(self):
        def last_map(size):
            for _ in STAGES:
                size = conv_output_size(size, 3, 2, "same")
            return conv_output_size(size, 3, 1, "valid")

        return smallest_input_size(last_map)

    def features(self, x, dropout):
        x = base.dropout_layer(x, self.input_dropout, name="input_dropout")
        for s, filters in enumerate(STAGES, start=1):
            filters = base.scaled(filters, self.width_multiplier)
            x = conv_bn_act(x, filters, 3, batch_norm=self.batch_norm, name=f"stage{s}_conv1")
            x = conv_bn_act(x, filters, 3, batch_norm=self.batch_norm, name=f"stage{s}_conv2")
            x = downsample(x, self.downsampling, pool_size=3, strides=2, padding="same", filters=filters,
                           batch_norm=self.batch_norm, name=f"stage{s}_down")
            x = base.dropout_layer(x, dropout, name=f"stage{s}_dropout")
        top = base.scaled(STAGES[-1], self.width_multiplier)
        x = conv_bn_act(x, top, 3, padding="valid", batch_norm=self.batch_norm, name="top_conv1")
        return conv_bn_act(x, top, 1, batch_norm=self.batch_norm, name="top_conv2")

    def top(self, dropout):
        return {"flatten": True}  # The paper's dropout is inside the features.


def build_allconv(**kwargs):
    """Builds All-CNN-C: `AllConv`'s knobs and every network's arguments (`keras_cnns.models.base`)."""
    return base.build(AllConv, "allconv", kwargs)


register_variant("allconv", AllConv, num_params=1_369_738)

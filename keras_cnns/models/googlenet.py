"""GoogLeNet (Inception v1): Szegedy et al. 2014, "Going Deeper with
Convolutions" (https://arxiv.org/abs/1409.4842).

The inception modules' widths are the paper's Table 1, kept as data. Local
response normalization is left out (later work found it adds little; pass
`batch_norm=True` for the modern replacement).
"""

import math

from keras import layers

from keras_cnns.blocks import conv_bn_act, downsample, inception_module
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS
from keras_cnns.validation import check_choice
from keras_cnns.models import base
from keras_cnns.models.sizes import conv_output_size, smallest_input_size
from keras_cnns.registry import register_variant

PAPER = "Szegedy et al. 2014, Going Deeper with Convolutions"

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj; "pool" is a
# 3x3/2 max pooling between stages.
INCEPTION_V1 = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
AUX_AFTER = ("4a", "4d")  # The paper's auxiliary classifiers sit on these outputs.
# Total stride of each stem before the first module: conv1 /2, pool1 /2, pool2 /2; the CIFAR stem's 3x3.
STEM_STRIDES = {"imagenet": 8, "cifar": 1}
STEMS = tuple(STEM_STRIDES)
CIFAR_STEM_FILTERS = 192  # The channels GoogLeNet's stem hands to inception3a.


class GoogLeNet(base.Backbone):
    """GoogLeNet (or another stack of inception modules).

    The classifier is ``avg_pool``, dropout (the paper: 0.4) and ``predictions``.
    Default input 224x224x3; at least the stem's stride times 2 per "pool" of
    `modules` (32 for GoogLeNet, 65 with the auxiliary classifiers).

    Args:
        modules: The module table, like `INCEPTION_V1`.
        batch_norm: Batch norm after every convolution (the paper has none).
        width_multiplier: Scales every convolution's width.
        downsampling: The 3x3/2 reductions between stages: `"max_pool"`
            (the paper), `"avg_pool"` or `"strided_conv"`.
        include_aux: Add the two auxiliary classifiers (``aux1``, ``aux2``);
            the model then outputs ``[predictions, aux1, aux2]``. Train with
            loss weights 1, 0.3, 0.3 as the paper does.
        stem: `"imagenet"` (the paper: 7x7/2 convolution, pooling, 1x1 and
            3x3 convolutions, pooling; total stride 8) or `"cifar"` (one 3x3
            convolution at full resolution, for small images).
        stem_filters: Channels of the `"cifar"` stem's convolution (scaled
            by `width_multiplier`); default 192, what the ImageNet stem hands
            to the first module. Not used by the `"imagenet"` stem.
    """

    family = "googlenet"
    paper = PAPER
    year = 2014
    default_dropout = 0.4

    def __init__(self, *, modules=INCEPTION_V1, batch_norm=False, width_multiplier=1.0, downsampling="max_pool",
                 include_aux=False, stem="imagenet", stem_filters=None):
        check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
        check_choice("stem", stem, STEMS)
        if stem_filters is not None and stem != "cifar":
            raise ValueError(
                f"stem_filters sets the width of the 'cifar' stem; received stem_filters={stem_filters!r} "
                f"with stem={stem!r}, whose widths are the paper's. Pass stem='cifar' or leave "
                "stem_filters out."
            )
        self.modules = tuple(modules)
        self.batch_norm = batch_norm
        self.width_multiplier = base.check_width_multiplier(width_multiplier)
        self.downsampling = downsampling
        self.include_aux = include_aux
        self.stem = stem
        self.stem_filters = stem_filters

    def min_input_size(self):
        """The stem's stride times 2 per "pool"; the auxiliary heads' 5x5/3 valid pooling needs 5x5 where they sit."""
        stride, aux_stride = STEM_STRIDES[self.stem], None
        for entry in self.modules:
            if entry == "pool":
                stride *= 2
            elif self.include_aux and self.with_top and aux_stride is None and entry[0] in AUX_AFTER:
                aux_stride = stride
        if aux_stride is None:
            return stride
        return max(stride, smallest_input_size(lambda size: conv_output_size(math.ceil(size / aux_stride), 5, 3, "valid")))

    def features(self, x, dropout):
        width = lambda filters: base.scaled(filters, self.width_multiplier)  # noqa: E731
        batch_norm = self.batch_norm

        def reduce(tensor, label):
            return downsample(tensor, self.downsampling, pool_size=3, strides=2, padding="same",
                              batch_norm=batch_norm, name=label)

        if self.stem == "imagenet":
            x = conv_bn_act(x, width(64), 7, strides=2, batch_norm=batch_norm, name="conv1")
            x = reduce(x, "pool1")
            x = conv_bn_act(x, width(64), 1, batch_norm=batch_norm, name="conv2_reduce")
            x = conv_bn_act(x, width(192), 3, batch_norm=batch_norm, name="conv2")
            x = reduce(x, "pool2")
        else:
            x = conv_bn_act(x, width(self.stem_filters or CIFAR_STEM_FILTERS), 3, batch_norm=batch_norm, name="conv1")
        aux_outputs, pools = [], 2
        for entry in self.modules:
            if entry == "pool":
                pools += 1
                x = reduce(x, f"pool{pools}")
                continue
            label, (f1, r3, f3, r5, f5, proj) = entry
            x = inception_module(x, width(f1), width(f3), width(f5), width(proj), reduce_3x3=width(r3),
                                 reduce_5x5=width(r5), batch_norm=batch_norm, name=f"inception{label}")
            if self.include_aux and self.with_top and label in AUX_AFTER:
                aux_outputs.append(self._aux_classifier(x, f"aux{len(aux_outputs) + 1}"))
        return x, aux_outputs

    def _aux_classifier(self, x, name):
        """The paper's auxiliary head: 5x5/3 average pooling, 1x1 conv (128), fully connected (1024), 70%
        dropout, classifier."""
        x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
        x = conv_bn_act(x, 128, 1, batch_norm=self.batch_norm, name=f"{name}_reduce")
        x = layers.Flatten(name=f"{name}_flatten")(x)
        x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
        x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
        return layers.Dense(self.top_classes, activation=self.top_activation, name=f"{name}_predictions")(x)


def build_googlenet(**kwargs):
    """Builds GoogLeNet: `GoogLeNet`'s knobs and every network's arguments (`keras_cnns.models.base`).

    Example:

    ```python
    # Two inception modules and one reduction on 28x28 images.
    small = build_googlenet(
        modules=(("3a", (16, 16, 32, 4, 8, 8)), "pool", ("4a", (32, 32, 64, 8, 16, 16))),
        stem="cifar", stem_filters=32, batch_norm=True, input_shape=(28, 28, 1), classes=10,
    )
    ```
    """
    return base.build(GoogLeNet, "googlenet", kwargs)


register_variant("googlenet", GoogLeNet, num_params=6_998_552)

"""ResNet: He et al. 2015, "Deep Residual Learning for Image Recognition"
(https://arxiv.org/abs/1512.03385).

Two forms of the same paper:
- ImageNet form (section 3.4, Table 1): a 7x7 stem and four stages, with basic
  blocks (ResNet-18/34) or bottleneck blocks (ResNet-50/101/152). ResNet-50/101/152
  reproduce keras.applications' layer names and parameter counts, so its
  weights load. ResNet-18/34 have no convolution biases, as in the paper:
  11,689,512 and 21,797,672 trainable parameters, the counts torchvision
  reports (Keras' `count_params` adds batch norm's moving statistics).
- CIFAR form (section 4.2): a 3x3 stem and three stages of n basic blocks with
  16, 32 and 64 filters, depth 6n+2, and the parameter-free shortcut (option A).

The architecture is data: blocks per stage, filters per stage, block type.
"""

from keras import layers

from keras_cnns.blocks import bottleneck_block, conv_bn_act, downsample, residual_block
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS
from keras_cnns.validation import check_choice
from keras_cnns.blocks.residual import SHORTCUT_KINDS
from keras_cnns.models import base
from keras_cnns.registry import register_variant

PAPER = "He et al. 2015, Deep Residual Learning for Image Recognition"
BLOCK_TYPES = ("basic", "bottleneck")
# Total stride of each stem before the first stage: the ImageNet stem's 7x7/2 convolution and 3x3/2
# pooling, the CIFAR stem's single 3x3 convolution.
STEM_STRIDES = {"imagenet": 4, "cifar": 1}
STEMS = tuple(STEM_STRIDES)
BN_EPSILON = 1.001e-5  # keras.applications' value; its weights were trained with it.

IMAGENET_FILTERS = (64, 128, 256, 512)
CIFAR_FILTERS = (16, 32, 64)


class ResNet(base.Backbone):
    """A ResNet from its stages.

    Stage ``i`` (named ``conv{i+2}``) has ``stackwise_num_blocks[i]`` blocks of
    ``stackwise_num_filters[i]`` filters; every stage but the first starts
    with a stride-2 block. Blocks are named ``conv2_block1``, ``conv2_block2``, ...
    The classifier is ``avg_pool`` and ``predictions``.

    Args:
        stackwise_num_blocks: Blocks per stage.
        stackwise_num_filters: Filters per stage (the bottleneck width for
            bottleneck blocks, which output 4x as many).
        block_type: `"basic"` or `"bottleneck"`.
        stem: `"imagenet"` (7x7/2 convolution, 3x3/2 pooling; default input
            224x224x3) or `"cifar"` (3x3 convolution; default input 32x32x3).
        width_multiplier: Scales every stage's (and the stem's) filters.
        shortcut: `"projection"` (1x1 convolution, option B; the ImageNet
            default) or `"zero_pad"` (option A; the CIFAR default), used where
            a block changes shape.
        use_bias: Convolution biases; default: True for bottleneck blocks (as
            keras.applications), False for basic blocks (as the paper).
        downsampling: How the ImageNet stem downsamples after its convolution:
            `"max_pool"` (the paper), `"avg_pool"` or `"strided_conv"`.
    """

    family = "resnet"
    paper = PAPER
    year = 2015

    def __init__(self, stackwise_num_blocks, stackwise_num_filters, block_type, *, stem="imagenet",
                 width_multiplier=1.0, shortcut=None, use_bias=None, downsampling="max_pool"):
        check_choice("block_type", block_type, BLOCK_TYPES)
        check_choice("stem", stem, STEMS)
        check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
        shortcut = shortcut if shortcut is not None else ("projection" if stem == "imagenet" else "zero_pad")
        check_choice("shortcut", shortcut, SHORTCUT_KINDS)
        if len(stackwise_num_blocks) != len(stackwise_num_filters) or not len(stackwise_num_blocks):
            raise ValueError(
                "stackwise_num_blocks and stackwise_num_filters need one entry per stage (at least one); "
                f"received {list(stackwise_num_blocks)} and {list(stackwise_num_filters)}."
            )
        self.stackwise_num_blocks = tuple(stackwise_num_blocks)
        self.stackwise_num_filters = tuple(stackwise_num_filters)
        self.block_type = block_type
        self.stem = stem
        self.width_multiplier = base.check_width_multiplier(width_multiplier)
        self.shortcut = shortcut
        self.use_bias = block_type == "bottleneck" if use_bias is None else use_bias
        self.downsampling = downsampling
        if stem == "cifar":
            self.family = "resnet_cifar"
            self.paper = PAPER + " (section 4.2, CIFAR-10)"
            self.default_input_shape = (32, 32, 3)
            self.default_classes = 10

    def imagenet_form(self):
        return (self.stem == "imagenet" and self.block_type == "bottleneck" and self.width_multiplier == 1
                and self.shortcut == "projection" and self.use_bias and self.downsampling == "max_pool")

    def min_input_size(self):
        return STEM_STRIDES[self.stem] * 2 ** (len(self.stackwise_num_blocks) - 1)

    def features(self, x, dropout):
        width = lambda filters: base.scaled(filters, self.width_multiplier)  # noqa: E731
        convolution = dict(use_bias=self.use_bias, bn_epsilon=BN_EPSILON)
        if self.stem == "imagenet":
            x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
            x = conv_bn_act(x, width(64), 7, strides=2, padding="valid", name="conv1", **convolution)
            x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
            x = downsample(x, self.downsampling, pool_size=3, strides=2, batch_norm=True, name="pool1_pool")
        else:
            x = conv_bn_act(x, width(self.stackwise_num_filters[0]), 3, name="conv1", **convolution)
        block = residual_block if self.block_type == "basic" else bottleneck_block
        for stage, (blocks, filters) in enumerate(zip(self.stackwise_num_blocks, self.stackwise_num_filters)):
            for index in range(blocks):
                x = block(x, width(filters), stride=2 if stage > 0 and index == 0 else 1, shortcut=self.shortcut,
                          name=f"conv{stage + 2}_block{index + 1}", **convolution)
        return x


def stages(stackwise_num_blocks, stackwise_num_filters, block_type, stem="imagenet"):
    """A factory of the `ResNet` with these stages, whose keywords are the remaining knobs (`stem` defaults to `stem`)."""

    def factory(*, stem=stem, width_multiplier=1.0, shortcut=None, use_bias=None, downsampling="max_pool"):
        return ResNet(stackwise_num_blocks, stackwise_num_filters, block_type, stem=stem,
                      width_multiplier=width_multiplier, shortcut=shortcut, use_bias=use_bias,
                      downsampling=downsampling)

    return factory


def build_resnet(stackwise_num_blocks, stackwise_num_filters, block_type, **kwargs):
    """Builds a ResNet from its stages: `ResNet`'s knobs and every network's arguments (`keras_cnns.models.base`).

    Example:

    ```python
    model = build_resnet((2, 2), (16, 32), "basic", stem="cifar", input_shape=(28, 28, 1), classes=10)
    ```
    """
    return base.build(stages(stackwise_num_blocks, stackwise_num_filters, block_type), "resnet", kwargs)


def cifar_depth_blocks(depth):
    """Blocks per stage of the CIFAR ResNet of depth 6n+2 (20, 32, 44, 56, 110, ...).

    Raises:
        ValueError: For a depth not of the form 6n+2.
    """
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNets have depth 6n+2 (8, 14, 20, 32, ...); received depth={depth!r}.")
    return ((depth - 2) // 6,) * 3


def build_cifar_resnet(depth, **kwargs):
    """A CIFAR-form ResNet of the paper's depth 6n+2 (20, 32, 44, 56, 110, ...); `classes` defaults to 10."""
    return base.build(stages(cifar_depth_blocks(depth), CIFAR_FILTERS, "basic", stem="cifar"), f"resnet{depth}",
                      kwargs)


# ImageNet form (Table 1 of the paper); ResNet-50/101/152 weight-compatible with keras.applications.
register_variant("resnet18", stages((2, 2, 2, 2), IMAGENET_FILTERS, "basic"), num_params=11_699_112)
register_variant("resnet34", stages((3, 4, 6, 3), IMAGENET_FILTERS, "basic"), num_params=21_814_696)
register_variant("resnet50", stages((3, 4, 6, 3), IMAGENET_FILTERS, "bottleneck"), num_params=25_636_712)
register_variant("resnet101", stages((3, 4, 23, 3), IMAGENET_FILTERS, "bottleneck"), num_params=44_707_176)
register_variant("resnet152", stages((3, 8, 36, 3), IMAGENET_FILTERS, "bottleneck"), num_params=60_419_944)
# CIFAR form (section 4.2): depth 6n+2, 0.27M to 1.7M parameters (Table 6), and ResNet-14 (n=2, not in
# the paper's table): at twice the width it is the network of the `fashion_mnist_resnet14x2` recipe.
for _depth, _params in ((14, 173_434), (20, 271_098), (32, 466_426), (44, 661_754), (56, 857_082),
                        (110, 1_736_058)):
    register_variant(f"resnet{_depth}", stages(cifar_depth_blocks(_depth), CIFAR_FILTERS, "basic", stem="cifar"),
                     num_params=_params)

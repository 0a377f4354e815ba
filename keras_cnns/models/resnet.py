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
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, check_choice
from keras_cnns.blocks.residual import SHORTCUT_KINDS
from keras_cnns.models import common
from keras_cnns.registry import register_model

PAPER = "He et al. 2015, Deep Residual Learning for Image Recognition"
BLOCK_TYPES = ("basic", "bottleneck")
STEMS = ("imagenet", "cifar")
BN_EPSILON = 1.001e-5  # keras.applications' value; its weights were trained with it.

IMAGENET_FILTERS = (64, 128, 256, 512)
CIFAR_FILTERS = (16, 32, 64)


def build_resnet(
    stackwise_num_blocks,
    stackwise_num_filters,
    block_type,
    *,
    stem="imagenet",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    width_multiplier=1.0,
    shortcut=None,
    use_bias=None,
    downsampling="max_pool",
    dropout=0.0,
    head="dense",
    variant=None,
):
    """Builds a ResNet from its stages.

    Stage ``i`` (named ``conv{i+2}``) has ``stackwise_num_blocks[i]`` blocks of
    ``stackwise_num_filters[i]`` filters; every stage but the first starts
    with a stride-2 block. Blocks are named ``conv2_block1``, ``conv2_block2``, ...

    Args:
        stackwise_num_blocks: Blocks per stage.
        stackwise_num_filters: Filters per stage (the bottleneck width for
            bottleneck blocks, which output 4x as many).
        block_type: `"basic"` or `"bottleneck"`.
        stem: `"imagenet"` (7x7/2 convolution, 3x3/2 pooling; default input
            224x224x3, at least 32x32) or `"cifar"` (3x3 convolution; default
            input 32x32x3, at least 4x4).
        include_top: Whether to include ``avg_pool`` and ``predictions``.
        weights: None, `"imagenet"` (ResNet-50/101/152 as published) or the
            path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``.
        pooling: With `include_top=False`: None, `"avg"` or `"max"`. With the
            conv head: None keeps a map of class scores.
        classes: Number of classes.
        classifier_activation: Activation of ``predictions``.
        name: Model name; defaults to the variant's.
        width_multiplier: Scales every stage's (and the stem's) filters.
        shortcut: `"projection"` (1x1 convolution, option B; the ImageNet
            default) or `"zero_pad"` (option A; the CIFAR default), used where
            a block changes shape.
        use_bias: Convolution biases; default: True for bottleneck blocks (as
            keras.applications), False for basic blocks (as the paper).
        downsampling: How the ImageNet stem downsamples after its convolution:
            `"max_pool"` (the paper), `"avg_pool"` or `"strided_conv"`.
        dropout: Dropout before ``predictions``.
        head: `"dense"` or `"conv"` (fully convolutional).
        variant: Registered name, for messages and ImageNet weights.

    Returns:
        A `keras.Model`.
    """
    variant = variant or "resnet"
    check_choice("block_type", block_type, BLOCK_TYPES)
    check_choice("stem", stem, STEMS)
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    if shortcut is None:
        shortcut = "projection" if stem == "imagenet" else "zero_pad"
    check_choice("shortcut", shortcut, SHORTCUT_KINDS)
    if len(stackwise_num_blocks) != len(stackwise_num_filters):
        raise ValueError(
            "stackwise_num_blocks and stackwise_num_filters need one entry per stage; received "
            f"{list(stackwise_num_blocks)} and {list(stackwise_num_filters)}."
        )
    if use_bias is None:
        use_bias = block_type == "bottleneck"
    paper_form = (stem == "imagenet" and block_type == "bottleneck" and width_multiplier == 1
                  and shortcut == "projection" and use_bias and downsampling == "max_pool")
    common.check_common_arguments(
        variant, weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
        imagenet_weights=paper_form and variant in ("resnet50", "resnet101", "resnet152"),
    )
    stem_stride = 4 if stem == "imagenet" else 1
    input_shape = common.resolve_input_shape(
        variant, input_shape=input_shape, input_tensor=input_tensor,
        default_shape=(224, 224, 3) if stem == "imagenet" else (32, 32, 3),
        min_size=stem_stride * 2 ** (len(stackwise_num_blocks) - 1),
        include_top=include_top, head=head, weights=weights,
    )
    x, inputs = common.model_inputs(input_shape, input_tensor)
    bn = dict(use_bias=use_bias, bn_epsilon=BN_EPSILON)

    if stem == "imagenet":
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = conv_bn_act(x, common.scaled(64, width_multiplier), 7, strides=2, padding="valid",
                        name="conv1", **bn)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = downsample(x, downsampling, pool_size=3, strides=2, batch_norm=True, name="pool1_pool")
    else:
        x = conv_bn_act(x, common.scaled(stackwise_num_filters[0], width_multiplier), 3,
                        name="conv1", **bn)

    for stage, (blocks, filters) in enumerate(zip(stackwise_num_blocks, stackwise_num_filters)):
        filters = common.scaled(filters, width_multiplier)
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            block_name = f"conv{stage + 2}_block{block + 1}"
            if block_type == "basic":
                x = residual_block(x, filters, stride=stride, shortcut=shortcut, name=block_name, **bn)
            else:
                x = bottleneck_block(x, filters, stride=stride, shortcut=shortcut, name=block_name, **bn)

    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout_rate=dropout, flatten=False,
    )
    return common.finish_model(inputs, x, name=name or variant, weights=weights, model_name=variant,
                               include_top=include_top)


def build_cifar_resnet(depth, **kwargs):
    """A CIFAR-form ResNet of the paper's depth 6n+2 (20, 32, 44, 56, 110, ...).

    Takes `build_resnet`'s keyword arguments; `classes` defaults to 10.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNets have depth 6n+2 (8, 14, 20, 32, ...); received depth={depth}.")
    n = (depth - 2) // 6
    kwargs.setdefault("classes", 10)
    return build_resnet((n, n, n), CIFAR_FILTERS, "basic", stem="cifar", **kwargs)


_IMAGENET = dict(family="resnet", paper=PAPER, year=2015, default_input_shape=(224, 224, 3),
                 min_input_size=32, default_classes=1000)
_CIFAR = dict(family="resnet_cifar", paper=PAPER + " (section 4.2, CIFAR-10)", year=2015,
              default_input_shape=(32, 32, 3), min_input_size=4, default_classes=10)


@register_model(**_IMAGENET, num_params=11_699_112)
def resnet18(**kwargs):
    """ResNet-18, basic blocks (2, 2, 2, 2). Takes `build_resnet`'s keyword arguments."""
    return build_resnet((2, 2, 2, 2), IMAGENET_FILTERS, "basic", variant="resnet18", **kwargs)


@register_model(**_IMAGENET, num_params=21_814_696)
def resnet34(**kwargs):
    """ResNet-34, basic blocks (3, 4, 6, 3)."""
    return build_resnet((3, 4, 6, 3), IMAGENET_FILTERS, "basic", variant="resnet34", **kwargs)


@register_model(**_IMAGENET, num_params=25_636_712, imagenet_weights=True)
def resnet50(**kwargs):
    """ResNet-50, bottleneck blocks (3, 4, 6, 3); weight-compatible with keras.applications."""
    return build_resnet((3, 4, 6, 3), IMAGENET_FILTERS, "bottleneck", variant="resnet50", **kwargs)


@register_model(**_IMAGENET, num_params=44_707_176, imagenet_weights=True)
def resnet101(**kwargs):
    """ResNet-101, bottleneck blocks (3, 4, 23, 3); weight-compatible with keras.applications."""
    return build_resnet((3, 4, 23, 3), IMAGENET_FILTERS, "bottleneck", variant="resnet101", **kwargs)


@register_model(**_IMAGENET, num_params=60_419_944, imagenet_weights=True)
def resnet152(**kwargs):
    """ResNet-152, bottleneck blocks (3, 8, 36, 3); weight-compatible with keras.applications."""
    return build_resnet((3, 8, 36, 3), IMAGENET_FILTERS, "bottleneck", variant="resnet152", **kwargs)


@register_model(**_CIFAR, num_params=271_098)
def resnet20(**kwargs):
    """ResNet-20 for CIFAR-sized images (3 blocks per stage, 0.27M parameters)."""
    return build_cifar_resnet(20, variant="resnet20", **kwargs)


@register_model(**_CIFAR, num_params=466_426)
def resnet32(**kwargs):
    """ResNet-32 for CIFAR-sized images (5 blocks per stage, 0.46M parameters)."""
    return build_cifar_resnet(32, variant="resnet32", **kwargs)


@register_model(**_CIFAR, num_params=661_754)
def resnet44(**kwargs):
    """ResNet-44 for CIFAR-sized images (7 blocks per stage, 0.66M parameters)."""
    return build_cifar_resnet(44, variant="resnet44", **kwargs)


@register_model(**_CIFAR, num_params=857_082)
def resnet56(**kwargs):
    """ResNet-56 for CIFAR-sized images (9 blocks per stage, 0.85M parameters)."""
    return build_cifar_resnet(56, variant="resnet56", **kwargs)


@register_model(**_CIFAR, num_params=1_736_058)
def resnet110(**kwargs):
    """ResNet-110 for CIFAR-sized images (18 blocks per stage, 1.7M parameters)."""
    return build_cifar_resnet(110, variant="resnet110", **kwargs)

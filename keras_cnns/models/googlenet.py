"""GoogLeNet (Inception v1): Szegedy et al. 2014, "Going Deeper with
Convolutions" (https://arxiv.org/abs/1409.4842).

The inception modules' widths are the paper's Table 1, kept as data. Local
response normalization is left out (later work found it adds little; pass
`batch_norm=True` for the modern replacement).
"""

import math

from keras import layers

from keras_cnns.blocks import conv_bn_act, downsample, inception_module
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, check_choice
from keras_cnns.models import common
from keras_cnns.registry import register_model

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
STEMS = ("imagenet", "cifar")
IMAGENET_STEM_STRIDE = 8  # conv1 /2, pool1 /2, pool2 /2.
CIFAR_STEM_FILTERS = 192  # The channels GoogLeNet's stem hands to inception3a.


def _min_input_size(modules, stem, include_aux):
    """The stem's stride (8 for the ImageNet stem, 1 for the CIFAR stem)
    times 2 per "pool" of the module table: 32 for GoogLeNet. The auxiliary
    heads' 5x5/3 valid pooling needs at least 5x5 where they sit (stride 16
    in GoogLeNet, so 65x65)."""
    stride = IMAGENET_STEM_STRIDE if stem == "imagenet" else 1
    aux_stride = None
    for entry in modules:
        if entry == "pool":
            stride *= 2
        elif include_aux and aux_stride is None and entry[0] in AUX_AFTER:
            aux_stride = stride
    if aux_stride is None:
        return stride
    return max(stride, common.smallest_input_size(
        lambda size: common.conv_output_size(math.ceil(size / aux_stride), 5, 3, "valid")
    ))


def _aux_classifier(x, classes, classifier_activation, batch_norm, name):
    """The paper's auxiliary head: 5x5/3 average pooling, 1x1 conv (128),
    fully connected (1024), 70% dropout, classifier."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_bn_act(x, 128, 1, batch_norm=batch_norm, name=f"{name}_reduce")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(classes, activation=classifier_activation, name=f"{name}_predictions")(x)


def build_googlenet(
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    modules=INCEPTION_V1,
    batch_norm=False,
    width_multiplier=1.0,
    dropout=0.4,
    downsampling="max_pool",
    include_aux=False,
    head="dense",
    stem="imagenet",
    stem_filters=None,
    variant=None,
):
    """Builds GoogLeNet (or another stack of inception modules).

    Args:
        include_top: Whether to include ``avg_pool``, dropout and ``predictions``.
        weights: None or the path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``; default ``(224, 224, 3)``.
            At least 32x32 (65x65 with the auxiliary classifiers); in
            general the stem's stride times 2 per "pool" of `modules`.
        pooling: With `include_top=False`: None, `"avg"` or `"max"`. With the
            conv head: None keeps a map of class scores.
        classes: Number of classes.
        classifier_activation: Activation of the classifiers.
        name: Model name; defaults to the variant's.
        modules: The module table, like `INCEPTION_V1`.
        batch_norm: Batch norm after every convolution (the paper has none).
        width_multiplier: Scales every convolution's width.
        dropout: Dropout before ``predictions`` (the paper: 0.4).
        downsampling: The 3x3/2 reductions between stages: `"max_pool"`
            (the paper), `"avg_pool"` or `"strided_conv"`.
        include_aux: Add the two auxiliary classifiers (``aux1``, ``aux2``);
            the model then outputs ``[predictions, aux1, aux2]``. Train with
            loss weights 1, 0.3, 0.3 as the paper does.
        head: `"dense"` or `"conv"` (fully convolutional).
        stem: `"imagenet"` (the paper: 7x7/2 convolution, pooling, 1x1 and
            3x3 convolutions, pooling; total stride 8) or `"cifar"` (one 3x3
            convolution at full resolution, as CIFAR versions of GoogLeNet
            use, for small images).
        stem_filters: Channels of the `"cifar"` stem's convolution (scaled
            by `width_multiplier`); default 192, what the ImageNet stem hands
            to the first module. Not used by the `"imagenet"` stem.
        variant: Registered name, for messages.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: On an unknown stem or downsampling, a `stem_filters`
            with the ImageNet stem, an input below the minimum size, or the
            arguments every builder checks.

    Example:

    ```python
    # Two inception modules and one reduction on 28x28 images.
    small = build_googlenet(
        modules=(("3a", (16, 16, 32, 4, 8, 8)), "pool", ("4a", (32, 32, 64, 8, 16, 16))),
        stem="cifar", stem_filters=32, batch_norm=True, input_shape=(28, 28, 1), classes=10,
    )
    ```
    """
    variant = variant or "googlenet"
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    check_choice("stem", stem, STEMS)
    if stem_filters is not None and stem != "cifar":
        raise ValueError(
            f"stem_filters sets the width of the 'cifar' stem; received stem_filters={stem_filters!r} "
            f"with stem={stem!r}, whose widths are the paper's. Pass stem='cifar' or leave "
            "stem_filters out."
        )
    common.check_common_arguments(
        variant, weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
    )
    include_aux = include_aux and include_top
    input_shape = common.resolve_input_shape(
        variant, input_shape=input_shape, input_tensor=input_tensor, default_shape=(224, 224, 3),
        min_size=_min_input_size(modules, stem, include_aux), include_top=include_top, head=head,
        weights=weights,
    )
    w = lambda filters: common.scaled(filters, width_multiplier)  # noqa: E731
    reduce = lambda t, label: downsample(  # noqa: E731
        t, downsampling, pool_size=3, strides=2, padding="same", batch_norm=batch_norm, name=label
    )
    x, inputs = common.model_inputs(input_shape, input_tensor)

    if stem == "imagenet":
        x = conv_bn_act(x, w(64), 7, strides=2, batch_norm=batch_norm, name="conv1")
        x = reduce(x, "pool1")
        x = conv_bn_act(x, w(64), 1, batch_norm=batch_norm, name="conv2_reduce")
        x = conv_bn_act(x, w(192), 3, batch_norm=batch_norm, name="conv2")
        x = reduce(x, "pool2")
    else:
        x = conv_bn_act(x, w(stem_filters or CIFAR_STEM_FILTERS), 3, batch_norm=batch_norm, name="conv1")

    aux_outputs = []
    pools = 2
    for entry in modules:
        if entry == "pool":
            pools += 1
            x = reduce(x, f"pool{pools}")
            continue
        label, (f1, r3, f3, r5, f5, proj) = entry
        x = inception_module(
            x, w(f1), w(f3), w(f5), w(proj), reduce_3x3=w(r3), reduce_5x5=w(r5),
            batch_norm=batch_norm, name=f"inception{label}",
        )
        if include_aux and label in AUX_AFTER:
            aux_name = f"aux{len(aux_outputs) + 1}"
            aux_outputs.append(_aux_classifier(x, classes, classifier_activation, batch_norm, aux_name))

    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, dropout_rate=dropout, flatten=False,
    )
    outputs = [x, *aux_outputs] if aux_outputs else x
    return common.finish_model(inputs, outputs, name=name or variant, weights=weights,
                               model_name=variant, include_top=include_top)


@register_model(family="googlenet", paper=PAPER, year=2014, default_input_shape=(224, 224, 3),
                min_input_size=32, num_params=6_998_552, default_classes=1000)
def googlenet(**kwargs):
    """GoogLeNet / Inception v1. Takes `build_googlenet`'s keyword arguments."""
    return build_googlenet(variant="googlenet", **kwargs)

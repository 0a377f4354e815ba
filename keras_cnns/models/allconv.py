"""All-CNN-C: Springenberg et al. 2014, "Striving for Simplicity: The All
Convolutional Net" (https://arxiv.org/abs/1412.6806).
Max pooling replaced by 3x3 convolutions with stride 2, and the fully
connected layers by 1x1 convolutions and global average pooling: a network
made of convolutions only (1.37M parameters for CIFAR-10).
"""


from keras_cnns.blocks import conv_bn_act, downsample
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, check_choice
from keras_cnns.models import common
from keras_cnns.registry import register_model

PAPER = "Springenberg et al. 2014, Striving for Simplicity: The All Convolutional Net"

# Table 2, model C: two 3x3 convolutions then a stride-2 reduction, twice.
STAGES = (96, 192)


def _last_map_size(size):
    """Height after the two stride-2 reductions and the final 3x3 valid convolution."""
    for _ in STAGES:
        size = common.conv_output_size(size, 3, 2, "same")
    return common.conv_output_size(size, 3, 1, "valid")


def build_allconv(
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling="avg",
    classes=10,
    classifier_activation="softmax",
    name="allconv",
    batch_norm=False,
    width_multiplier=1.0,
    input_dropout=0.2,
    dropout=0.5,
    downsampling="strided_conv",
    head="conv",
):
    """Builds All-CNN-C.

    Layers: ``stage1_conv1``, ``stage1_conv2``, ``stage1_down`` (3x3/2),
    the same for ``stage2``, then ``top_conv1`` (3x3 valid), ``top_conv2``
    (1x1), ``predictions_conv`` and ``avg_pool``.

    Args:
        include_top: Whether to include the classifier.
        weights: None or the path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``; default ``(32, 32, 3)``,
            at least 9x9.
        pooling: `"avg"` (the paper), `"max"`, or None (a map of class
            scores; with `include_top=False`, the features).
        classes: Number of classes.
        classifier_activation: Activation of ``predictions``.
        name: Model name.
        batch_norm: Batch norm after every convolution (the paper has none).
        width_multiplier: Scales every layer's width.
        input_dropout: Dropout on the input image (the paper: 0.2).
        dropout: Dropout after each reduction (the paper: 0.5).
        downsampling: `"strided_conv"` (All-CNN-C), `"max_pool"` (the paper's
            Model C with pooling) or `"avg_pool"`.
        head: `"conv"` (the paper) or `"dense"` (flatten, ``predictions``).

    Returns:
        A `keras.Model`.
    """
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    common.check_common_arguments(
        "allconv", weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
    )
    input_shape = common.resolve_input_shape(
        "allconv", input_shape=input_shape, input_tensor=input_tensor, default_shape=(32, 32, 3),
        min_size=common.smallest_input_size(_last_map_size), include_top=include_top, head=head,
        weights=weights,
    )
    x, inputs = common.model_inputs(input_shape, input_tensor)
    x = common.dropout(x, input_dropout, name="input_dropout")
    for s, filters in enumerate(STAGES, start=1):
        filters = common.scaled(filters, width_multiplier)
        x = conv_bn_act(x, filters, 3, batch_norm=batch_norm, name=f"stage{s}_conv1")
        x = conv_bn_act(x, filters, 3, batch_norm=batch_norm, name=f"stage{s}_conv2")
        x = downsample(x, downsampling, pool_size=3, strides=2, padding="same", filters=filters,
                       batch_norm=batch_norm, name=f"stage{s}_down")
        x = common.dropout(x, dropout, name=f"stage{s}_dropout")
    top = common.scaled(STAGES[-1], width_multiplier)
    x = conv_bn_act(x, top, 3, padding="valid", batch_norm=batch_norm, name="top_conv1")
    x = conv_bn_act(x, top, 1, batch_norm=batch_norm, name="top_conv2")
    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return common.finish_model(inputs, x, name=name, weights=weights, model_name="allconv",
                               include_top=include_top)


@register_model(family="allconv", paper=PAPER, year=2014, default_input_shape=(32, 32, 3), min_input_size=9,
                num_params=1_369_738, default_classes=10)
def allconv(**kwargs):
    """All-CNN-C. Takes `build_allconv`'s keyword arguments."""
    return build_allconv(**kwargs)

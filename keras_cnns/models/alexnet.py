"""AlexNet: Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with
Deep Convolutional Neural Networks" (NeurIPS 2012).

The single-stream form: the paper's two GPU halves merged into one stream with
the same total widths (96, 256, 384, 384, 256 filters; 4096, 4096 units),
227x227 inputs, 62,378,344 parameters with 1000 classes. Local response
normalization is left out (pass `batch_norm=True` for the modern replacement).
"""

from keras_cnns.blocks import conv_bn_act, downsample
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, check_choice
from keras_cnns.models import common
from keras_cnns.registry import register_model

PAPER = "Krizhevsky et al. 2012, ImageNet Classification with Deep Convolutional Neural Networks"

# (filters, kernel, stride, padding, followed by a 3x3/2 pooling)
CONVOLUTIONS = (
    (96, 11, 4, "valid", True),
    (256, 5, 1, "same", True),
    (384, 3, 1, "same", False),
    (384, 3, 1, "same", False),
    (256, 3, 1, "same", True),
)


def _last_map_size(size):
    """Height of the last pooling's output (overlapping 3x3/2 poolings, valid)."""
    for _, kernel, stride, padding, pooled in CONVOLUTIONS:
        size = common.conv_output_size(size, kernel, stride, padding)
        if pooled:
            size = common.conv_output_size(size, 3, 2, "valid")
    return size


def build_alexnet(
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="alexnet",
    batch_norm=False,
    width_multiplier=1.0,
    dropout=0.5,
    downsampling="max_pool",
    head="dense",
):
    """Builds AlexNet.

    Layers: ``conv1`` ... ``conv5`` (each ``convN_conv``), poolings ``pool1``,
    ``pool2``, ``pool5``, then ``flatten``, ``fc1``, ``fc2`` and ``predictions``.

    Args:
        include_top: Whether to include the fully connected classifier.
        weights: None or the path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``; default ``(227, 227, 3)``,
            at least 67x67.
        pooling: With `include_top=False`: None, `"avg"` or `"max"`. With the
            conv head: None keeps a map of class scores.
        classes: Number of classes.
        classifier_activation: Activation of ``predictions``.
        name: Model name.
        batch_norm: Batch norm after every convolution.
        width_multiplier: Scales every layer's width.
        dropout: Dropout after ``fc1`` and ``fc2`` (the paper: 0.5).
        downsampling: The overlapping 3x3/2 poolings: `"max_pool"` (the paper),
            `"avg_pool"` or `"strided_conv"`.
        head: `"dense"` or `"conv"` (fully convolutional).

    Returns:
        A `keras.Model`.
    """
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    common.check_common_arguments(
        "alexnet", weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
    )
    input_shape = common.resolve_input_shape(
        "alexnet", input_shape=input_shape, input_tensor=input_tensor, default_shape=(227, 227, 3),
        min_size=common.smallest_input_size(_last_map_size), include_top=include_top, head=head,
        weights=weights,
    )
    x, inputs = common.model_inputs(input_shape, input_tensor)
    for i, (filters, kernel, stride, padding, pooled) in enumerate(CONVOLUTIONS, start=1):
        x = conv_bn_act(x, common.scaled(filters, width_multiplier), kernel, strides=stride,
                        padding=padding, batch_norm=batch_norm, name=f"conv{i}")
        if pooled:
            x = downsample(x, downsampling, pool_size=3, strides=2, batch_norm=batch_norm, name=f"pool{i}")
    fc = common.scaled(4096, width_multiplier)
    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, hidden_units=(fc, fc), dropout_rate=dropout,
    )
    return common.finish_model(inputs, x, name=name, weights=weights, model_name="alexnet",
                               include_top=include_top)


@register_model(family="alexnet", paper=PAPER, year=2012, default_input_shape=(227, 227, 3),
                min_input_size=67, num_params=62_378_344, default_classes=1000)
def alexnet(**kwargs):
    """AlexNet, single stream. Takes `build_alexnet`'s keyword arguments."""
    return build_alexnet(**kwargs)

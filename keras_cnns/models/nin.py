"""Network in Network: Lin, Chen & Yan 2013 (https://arxiv.org/abs/1312.4400).

The CIFAR-10 network of the paper: three mlpconv layers, each a spatial
convolution followed by two 1x1 convolutions, with max pooling and dropout
between them, and global average pooling over per-class maps instead of
fully connected layers. Its natural head is therefore the fully-convolutional
one (`head="conv"`, `pooling="avg"`).
"""

from keras_cnns.blocks import downsample, nin_block
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, check_choice
from keras_cnns.models import common
from keras_cnns.registry import register_model

PAPER = "Lin et al. 2013, Network In Network"

# (kernel, filters, 1x1 filters); the last block's final 1x1 convolution is
# the classifier (``predictions_conv``).
MLPCONV_LAYERS = ((5, 192, (160, 96)), (5, 192, (192, 192)), (3, 192, (192,)))


def build_nin(
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling="avg",
    classes=10,
    classifier_activation="softmax",
    name="nin",
    batch_norm=False,
    width_multiplier=1.0,
    dropout=0.5,
    downsampling="max_pool",
    head="conv",
):
    """Builds Network in Network.

    Layers: ``block1`` ... ``block3`` (each ``blockN_conv``, ``blockN_mlp1_conv``,
    ...), poolings ``block1_pool`` and ``block2_pool`` (3x3/2), then
    ``predictions_conv`` and ``avg_pool``.

    Args:
        include_top: Whether to include the classifier.
        weights: None or the path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``; default ``(32, 32, 3)``, at
            least 4x4.
        pooling: `"avg"` (the paper's global average pooling), `"max"`, or None
            (a map of class scores; with `include_top=False`, the features).
        classes: Number of classes.
        classifier_activation: Activation of ``predictions``.
        name: Model name.
        batch_norm: Batch norm after every convolution (the paper has none).
        width_multiplier: Scales every layer's width.
        dropout: Dropout after each pooling (the paper: 0.5).
        downsampling: `"max_pool"` (the paper), `"avg_pool"` or `"strided_conv"`.
        head: `"conv"` (the paper) or `"dense"` (flatten, ``predictions``).

    Returns:
        A `keras.Model`.
    """
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    common.check_common_arguments(
        "nin", weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
    )
    input_shape = common.resolve_input_shape(
        "nin", input_shape=input_shape, input_tensor=input_tensor, default_shape=(32, 32, 3),
        min_size=4, include_top=include_top, head=head, weights=weights,
    )
    x, inputs = common.model_inputs(input_shape, input_tensor)
    for i, (kernel, filters, mlp_filters) in enumerate(MLPCONV_LAYERS, start=1):
        x = nin_block(
            x, common.scaled(filters, width_multiplier), kernel,
            [common.scaled(f, width_multiplier) for f in mlp_filters],
            batch_norm=batch_norm, name=f"block{i}",
        )
        if i < len(MLPCONV_LAYERS):
            x = downsample(x, downsampling, pool_size=3, strides=2, padding="same",
                           batch_norm=batch_norm, name=f"block{i}_pool")
            x = common.dropout(x, dropout, name=f"block{i}_dropout")
    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    return common.finish_model(inputs, x, name=name, weights=weights, model_name="nin",
                               include_top=include_top)


@register_model(family="nin", paper=PAPER, year=2013, default_input_shape=(32, 32, 3), min_input_size=4,
                num_params=966_986, default_classes=10)
def nin(**kwargs):
    """Network in Network for CIFAR-sized images. Takes `build_nin`'s keyword arguments."""
    return build_nin(**kwargs)

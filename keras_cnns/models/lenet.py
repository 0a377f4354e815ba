"""LeNet-5: LeCun et al. 1998, "Gradient-Based Learning Applied to Document
Recognition" (https://doi.org/10.1109/5.726791).

The common C1-S2-C3-S4-C5-F6 form: C3 connects to every S2 map (the paper's
partial connection table is left out) and S2/S4 are plain average poolings
(the paper's trainable subsampling coefficients are left out). At 32x32x1 with
10 classes it has 61,706 parameters.
"""

from keras_cnns.blocks import conv_bn_act, downsample
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, check_choice
from keras_cnns.models import common
from keras_cnns.registry import register_model

PAPER = "LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition"


def _last_map_size(size):
    """Height of C5's output: C1 5x5, S2 2/2, C3 5x5, S4 2/2, C5 5x5, all valid."""
    for kernel, stride in ((5, 1), (2, 2), (5, 1), (2, 2), (5, 1)):
        size = common.conv_output_size(size, kernel, stride, "valid")
    return size


def build_lenet5(
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name="lenet5",
    activation="tanh",
    batch_norm=False,
    width_multiplier=1.0,
    dropout=0.0,
    downsampling="avg_pool",
    head="dense",
):
    """Builds LeNet-5.

    Layers: ``c1`` (6 5x5 convolutions), ``s2`` (2x2 subsampling), ``c3`` (16),
    ``s4``, ``c5`` (120 5x5 convolutions: 1x1 maps at 32x32), then ``fc1``
    (F6, 84 units) and ``predictions``.

    Args:
        include_top: Whether to include F6 and ``predictions``.
        weights: None or the path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``; default ``(32, 32, 1)``, at
            least 32x32 (pad 28x28 digits to 32x32, as LeCun et al. did).
        pooling: With `include_top=False`: None, `"avg"` or `"max"`. With the
            conv head: None keeps a map of class scores.
        classes: Number of classes.
        classifier_activation: Activation of ``predictions``.
        name: Model name.
        activation: Hidden activation; the paper uses a scaled tanh.
        batch_norm: Batch norm after every convolution.
        width_multiplier: Scales every layer's width.
        dropout: Dropout after F6.
        downsampling: `"avg_pool"` (the paper's subsampling), `"max_pool"` or
            `"strided_conv"`.
        head: `"dense"` or `"conv"` (fully convolutional).

    Returns:
        A `keras.Model`.
    """
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    common.check_common_arguments(
        "lenet5", weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
    )
    input_shape = common.resolve_input_shape(
        "lenet5", input_shape=input_shape, input_tensor=input_tensor, default_shape=(32, 32, 1),
        min_size=common.smallest_input_size(_last_map_size), include_top=include_top, head=head, weights=weights,
    )
    w = lambda filters: common.scaled(filters, width_multiplier)  # noqa: E731
    conv = dict(padding="valid", batch_norm=batch_norm, activation=activation)
    x, inputs = common.model_inputs(input_shape, input_tensor)
    x = conv_bn_act(x, w(6), 5, name="c1", **conv)
    x = downsample(x, downsampling, batch_norm=batch_norm, activation=activation, name="s2")
    x = conv_bn_act(x, w(16), 5, name="c3", **conv)
    x = downsample(x, downsampling, batch_norm=batch_norm, activation=activation, name="s4")
    x = conv_bn_act(x, w(120), 5, name="c5", **conv)
    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, hidden_units=(w(84),), dropout_rate=dropout,
        hidden_activation=activation,
    )
    return common.finish_model(inputs, x, name=name, weights=weights, model_name="lenet5",
                               include_top=include_top)


@register_model(family="lenet", paper=PAPER, year=1998, default_input_shape=(32, 32, 1), min_input_size=32,
                num_params=61_706, default_classes=10)
def lenet5(**kwargs):
    """LeNet-5. Takes `build_lenet5`'s keyword arguments."""
    return build_lenet5(**kwargs)

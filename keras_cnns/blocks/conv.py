"""Convolution, downsampling and dropout blocks.

Every block is a function ``(x, ..., name) -> x`` that creates its layers with
names prefixed by ``name``. Layer names are part of the API: weights load by
name, so they never change silently.
"""

import keras

from keras_cnns.validation import check_choice  # noqa: F401  (used here, imported by blocks)
from keras import layers

# The downsampling kinds every builder accepts through its `downsampling` knob.
DOWNSAMPLING_KINDS = ("max_pool", "avg_pool", "strided_conv")


def channel_axis():
    """Returns the channel axis for the current `keras.config.image_data_format()`."""
    return 1 if keras.config.image_data_format() == "channels_first" else -1


def conv_bn_act(
    x,
    filters,
    kernel_size,
    *,
    strides=1,
    padding="same",
    batch_norm=True,
    activation="relu",
    use_bias=None,
    bn_epsilon=1e-3,
    name,
    conv_name=None,
):
    """Convolution, optional batch normalization, then an activation.

    Layers are named ``{name}_conv``, ``{name}_bn`` and ``{name}_{activation}``.
    Without batch norm the activation is fused into the convolution (no separate
    activation layer), exactly as keras.applications' VGG builds it, so that
    layer lists and names match.

    Args:
        x: Input tensor.
        filters: Number of output channels.
        kernel_size: Int or pair of ints.
        strides: Int or pair of ints.
        padding: `"same"` or `"valid"`.
        batch_norm: Whether to insert `BatchNormalization` after the convolution.
        activation: Activation name, or None for no activation.
        use_bias: Whether the convolution has a bias. Defaults to
            `not batch_norm` (the bias is redundant before batch norm).
        bn_epsilon: Batch-norm epsilon (keras.applications' ResNet uses 1.001e-5).
        name: Prefix of the layer names.
        conv_name: Name of the convolution layer, when it must differ from
            ``{name}_conv`` (keras.applications' VGG calls it ``block1_conv1``).

    Returns:
        The output tensor.

    Example:
        >>> x = keras.Input((32, 32, 3))
        >>> y = conv_bn_act(x, 16, 3, strides=2, name="stem")
        >>> tuple(y.shape)
        (None, 16, 16, 16)
    """
    if use_bias is None:
        use_bias = not batch_norm
    fused = None if batch_norm else activation
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=use_bias,
        activation=fused,
        name=conv_name or f"{name}_conv",
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(
            axis=channel_axis(), epsilon=bn_epsilon, name=f"{name}_bn"
        )(x)
        if activation is not None:
            x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def downsample(
    x,
    kind="max_pool",
    *,
    pool_size=2,
    strides=2,
    padding="valid",
    filters=None,
    batch_norm=False,
    activation="relu",
    name,
):
    """Halves (or otherwise reduces) the spatial size of `x`.

    `"max_pool"` and `"avg_pool"` create one pooling layer named `name`.
    `"strided_conv"` replaces the pooling by a learned convolution with the
    same window and stride, as in the all-convolutional net (Springenberg et
    al. 2014, https://arxiv.org/abs/1412.6806); its layers are named like
    `conv_bn_act`'s, with prefix `name`.

    Args:
        x: Input tensor.
        kind: One of `"max_pool"`, `"avg_pool"`, `"strided_conv"`.
        pool_size: Window size.
        strides: Stride.
        padding: `"valid"` or `"same"`.
        filters: Output channels of the strided convolution. Defaults to the
            input's channel count. Ignored by pooling.
        batch_norm: Batch norm after the strided convolution.
        activation: Activation after the strided convolution.
        name: Layer name (pooling) or prefix (strided convolution).

    Returns:
        The downsampled tensor.

    Raises:
        ValueError: If `kind` is not one of `DOWNSAMPLING_KINDS`.
    """
    check_choice("downsampling", kind, DOWNSAMPLING_KINDS)
    if kind == "max_pool":
        return layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=name)(x)
    if kind == "avg_pool":
        return layers.AveragePooling2D(pool_size, strides=strides, padding=padding, name=name)(x)
    if filters is None:
        filters = x.shape[channel_axis()]
    return conv_bn_act(
        x,
        filters,
        pool_size,
        strides=strides,
        padding=padding,
        batch_norm=batch_norm,
        activation=activation,
        name=name,
    )


def spatial_dropout(x, rate, *, name):
    """Drops whole feature maps with probability `rate` (Tompson et al. 2015).

    Neighbouring pixels of a feature map are strongly correlated, so ordinary
    dropout barely regularizes convolutions; dropping entire channels does.
    With `rate == 0` no layer is created.

    Args:
        x: Input tensor of rank 4.
        rate: Fraction of channels to drop, in [0, 1).
        name: Layer name.

    Returns:
        The output tensor.
    """
    if not 0 <= rate < 1:
        raise ValueError(
            f"spatial dropout rate must be in [0, 1); received {rate!r}. "
            "Use 0 to disable it."
        )
    if rate == 0:
        return x
    return layers.SpatialDropout2D(rate, data_format=keras.config.image_data_format(), name=name)(x)

"""Residual blocks of He et al. 2015, "Deep Residual Learning for Image
Recognition" (https://arxiv.org/abs/1512.03385).

Layer names follow keras.applications' ResNet grammar (``conv2_block1_1_conv``,
``conv2_block1_0_bn``, ``conv2_block1_add``, ``conv2_block1_out``) so that
weights load by name: ``_0`` is the shortcut, ``_1``, ``_2``, ``_3`` the
convolutions of the residual branch.
"""

from keras import layers

from keras_cnns.blocks.conv import channel_axis, conv_bn_act
from keras_cnns.validation import check_choice
from keras_cnns.layers import ZeroPadShortcut

SHORTCUT_KINDS = ("projection", "zero_pad")


def _shortcut(x, out_filters, stride, kind, use_bias, bn_epsilon, name):
    """The shortcut branch: identity when shapes agree, else `kind`."""
    if stride == 1 and x.shape[channel_axis()] == out_filters:
        return x
    if kind == "zero_pad":
        return ZeroPadShortcut(out_filters, stride, name=f"{name}_0_pad")(x)
    return conv_bn_act(
        x,
        out_filters,
        1,
        strides=stride,
        activation=None,
        use_bias=use_bias,
        bn_epsilon=bn_epsilon,
        name=f"{name}_0",
    )


def residual_block(
    x,
    filters,
    *,
    stride=1,
    shortcut="projection",
    use_bias=False,
    bn_epsilon=1.001e-5,
    name,
):
    """Basic residual block: two 3x3 convolutions and a shortcut.

    ``out = relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x))``. When the
    block changes the shape (stride or channel count), the shortcut is a 1x1
    projection with batch norm (`"projection"`, the paper's option B) or a
    subsampled identity padded with zero channels (`"zero_pad"`, option A).

    Args:
        x: Input tensor.
        filters: Output channels of both convolutions.
        stride: Stride of the first convolution (2 to downsample).
        shortcut: `"projection"` or `"zero_pad"`; used only when the shape changes.
        use_bias: Whether the convolutions have biases.
        bn_epsilon: Batch-norm epsilon.
        name: Prefix of the layer names, e.g. ``conv2_block1``.

    Returns:
        The output tensor.

    Example:
        >>> x = keras.Input((32, 32, 16))
        >>> y = residual_block(x, 32, stride=2, name="conv3_block1")
        >>> tuple(y.shape)
        (None, 16, 16, 32)
    """
    check_choice("shortcut", shortcut, SHORTCUT_KINDS)
    short = _shortcut(x, filters, stride, shortcut, use_bias, bn_epsilon, name)
    common = dict(use_bias=use_bias, bn_epsilon=bn_epsilon)
    x = conv_bn_act(x, filters, 3, strides=stride, name=f"{name}_1", **common)
    x = conv_bn_act(x, filters, 3, activation=None, name=f"{name}_2", **common)
    x = layers.Add(name=f"{name}_add")([short, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(
    x,
    filters,
    *,
    stride=1,
    expansion=4,
    shortcut="projection",
    use_bias=True,
    bn_epsilon=1.001e-5,
    name,
):
    """Bottleneck residual block: 1x1 reduce, 3x3, 1x1 expand, plus a shortcut.

    The stride sits on the first 1x1 convolution, as in the original ResNet
    and keras.applications' ResNet50/101/152, whose layer names and weights
    this block reproduces (with the default `use_bias=True`).

    Args:
        x: Input tensor.
        filters: Channels of the 1x1 reduction and the 3x3 convolution; the
            block outputs ``expansion * filters`` channels.
        stride: Stride of the first 1x1 convolution.
        expansion: Output width relative to `filters`.
        shortcut: `"projection"` or `"zero_pad"`; used only when the shape changes.
        use_bias: Whether the convolutions have biases.
        bn_epsilon: Batch-norm epsilon.
        name: Prefix of the layer names, e.g. ``conv2_block1``.

    Returns:
        The output tensor.

    Example:
        >>> x = keras.Input((56, 56, 64))
        >>> y = bottleneck_block(x, 64, name="conv2_block1")
        >>> tuple(y.shape)
        (None, 56, 56, 256)
    """
    check_choice("shortcut", shortcut, SHORTCUT_KINDS)
    out_filters = expansion * filters
    short = _shortcut(x, out_filters, stride, shortcut, use_bias, bn_epsilon, name)
    common = dict(use_bias=use_bias, bn_epsilon=bn_epsilon)
    x = conv_bn_act(x, filters, 1, strides=stride, name=f"{name}_1", **common)
    x = conv_bn_act(x, filters, 3, name=f"{name}_2", **common)
    x = conv_bn_act(x, out_filters, 1, activation=None, name=f"{name}_3", **common)
    x = layers.Add(name=f"{name}_add")([short, x])
    return layers.Activation("relu", name=f"{name}_out")(x)

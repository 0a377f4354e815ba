"""Inception module of Szegedy et al. 2014, "Going Deeper with Convolutions"
(https://arxiv.org/abs/1409.4842)."""

from keras import layers

from keras_cnns.blocks.conv import channel_axis, conv_bn_act


def inception_module(
    x,
    filters_1x1,
    filters_3x3,
    filters_5x5,
    filters_pool_proj=None,
    *,
    reduce_3x3=None,
    reduce_5x5=None,
    batch_norm=False,
    name,
):
    """Four parallel branches (1x1, 3x3, 5x5 convolutions and 3x3 max pooling)
    concatenated along the channels.

    The paper's naive form convolves the full input with every kernel size and
    passes the pooled input through unchanged, so the channel count grows with
    every module. The form GoogLeNet uses puts 1x1 convolutions in front of the
    3x3 and 5x5 convolutions (`reduce_3x3`, `reduce_5x5`) and after the pooling
    (`filters_pool_proj`) to cut the computation: in the paper's example (28x28x192
    in, 32 5x5 filters) from 120M to 12.4M multiplications. Leave all three
    None for the naive form.

    Layers are named ``{name}_1x1_conv``, ``{name}_3x3_reduce_conv``,
    ``{name}_3x3_conv``, ``{name}_5x5_reduce_conv``, ``{name}_5x5_conv``,
    ``{name}_pool``, ``{name}_pool_proj_conv`` and ``{name}_concat``.

    Args:
        x: Input tensor.
        filters_1x1: Channels of the 1x1 branch.
        filters_3x3: Channels of the 3x3 branch.
        filters_5x5: Channels of the 5x5 branch.
        filters_pool_proj: Channels of the 1x1 projection after pooling, or None
            to pass the pooled input through.
        reduce_3x3: Channels of the 1x1 reduction before the 3x3, or None.
        reduce_5x5: Channels of the 1x1 reduction before the 5x5, or None.
        batch_norm: Batch norm after every convolution (the paper has none).
        name: Prefix of the layer names, e.g. ``inception3a``.

    Returns:
        The concatenated output; its channel count is the sum of the branches'.

    Example:
        >>> x = keras.Input((28, 28, 192))
        >>> y = inception_module(x, 64, 128, 32, 32, reduce_3x3=96, reduce_5x5=16,
        ...                      name="inception3a")
        >>> tuple(y.shape)
        (None, 28, 28, 256)
    """
    conv = lambda t, filters, size, suffix: conv_bn_act(  # noqa: E731
        t, filters, size, batch_norm=batch_norm, name=f"{name}_{suffix}"
    )
    branch_1x1 = conv(x, filters_1x1, 1, "1x1")

    branch_3x3 = x if reduce_3x3 is None else conv(x, reduce_3x3, 1, "3x3_reduce")
    branch_3x3 = conv(branch_3x3, filters_3x3, 3, "3x3")

    branch_5x5 = x if reduce_5x5 is None else conv(x, reduce_5x5, 1, "5x5_reduce")
    branch_5x5 = conv(branch_5x5, filters_5x5, 5, "5x5")

    branch_pool = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    if filters_pool_proj is not None:
        branch_pool = conv(branch_pool, filters_pool_proj, 1, "pool_proj")

    return layers.Concatenate(axis=channel_axis(), name=f"{name}_concat")(
        [branch_1x1, branch_3x3, branch_5x5, branch_pool]
    )

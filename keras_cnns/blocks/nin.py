"""The mlpconv block of Lin et al. 2013, "Network In Network"
(https://arxiv.org/abs/1312.4400)."""

from keras_cnns.blocks.conv import conv_bn_act


def nin_block(x, filters, kernel_size, mlp_filters, *, strides=1, padding="same", batch_norm=False, name):
    """An mlpconv layer: a spatial convolution followed by 1x1 convolutions.

    The 1x1 convolutions act as a small multilayer perceptron slid over every
    position, so each output is a nonlinear function of its receptive field
    rather than a linear filter followed by one ReLU.

    Layers are named ``{name}_conv`` and ``{name}_mlp1_conv``, ``{name}_mlp2_conv``, ...

    Args:
        x: Input tensor.
        filters: Channels of the spatial convolution.
        kernel_size: Kernel size of the spatial convolution.
        mlp_filters: Channels of each following 1x1 convolution, in order.
        strides: Stride of the spatial convolution.
        padding: Padding of the spatial convolution.
        batch_norm: Batch norm after every convolution (the paper has none).
        name: Prefix of the layer names.

    Returns:
        The output tensor, with ``mlp_filters[-1]`` channels.

    Example:
        >>> x = keras.Input((32, 32, 3))
        >>> y = nin_block(x, 192, 5, (160, 96), name="block1")
        >>> tuple(y.shape)
        (None, 32, 32, 96)
    """
    x = conv_bn_act(x, filters, kernel_size, strides=strides, padding=padding, batch_norm=batch_norm, name=name)
    for i, width in enumerate(mlp_filters, start=1):
        x = conv_bn_act(x, width, 1, batch_norm=batch_norm, name=f"{name}_mlp{i}")
    return x

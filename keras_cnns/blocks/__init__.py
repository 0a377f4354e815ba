"""Reusable building blocks. Each is a function ``(x, ..., name) -> x``.

Example, a small residual network in a few lines:

    import keras
    from keras_cnns import blocks

    inputs = keras.Input((28, 28, 1))
    x = blocks.conv_bn_act(inputs, 16, 3, name="stem")
    x = blocks.residual_block(x, 16, name="stage1_block1")
    x = blocks.residual_block(x, 32, stride=2, name="stage2_block1")
    x = blocks.spatial_dropout(x, 0.1, name="drop")
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
"""

from keras_cnns.blocks.conv import (
    DOWNSAMPLING_KINDS,
    channel_axis,
    conv_bn_act,
    downsample,
    spatial_dropout,
)
from keras_cnns.blocks.inception import inception_module
from keras_cnns.blocks.nin import nin_block
from keras_cnns.blocks.residual import (
    SHORTCUT_KINDS,
    ZeroPadShortcut,
    bottleneck_block,
    residual_block,
)

__all__ = [
    "DOWNSAMPLING_KINDS",
    "SHORTCUT_KINDS",
    "ZeroPadShortcut",
    "bottleneck_block",
    "channel_axis",
    "conv_bn_act",
    "downsample",
    "inception_module",
    "nin_block",
    "residual_block",
    "spatial_dropout",
]

"""The Keras layers of this package that a `.keras` file can hold.

Each is registered with Keras' serialization under the package name
`keras_cnns`, so a saved model that uses one loads in safe mode once this
module is imported (`keras_cnns.saving` imports it, and `import keras_cnns`
imports that as soon as Keras loads). This module imports nothing from the
rest of the package, so that it can be imported at any point of an import.
"""

import keras
from keras import layers
from keras import ops


def _channel_axis():
    return 1 if keras.config.image_data_format() == "channels_first" else -1


@keras.saving.register_keras_serializable(package="keras_cnns")
class ZeroPadShortcut(layers.Layer):
    """The parameter-free shortcut of He et al. 2015, option A.

    Subsamples the input by `strides` and appends zero channels up to
    `filters`, so that the identity can be added to a residual branch that
    downsampled and widened. This is what the paper's CIFAR networks
    (section 4.2) use: it keeps ResNet-20 at 0.27M parameters.

    Args:
        filters: Output channel count (at least the input's).
        strides: Spatial subsampling factor.
    """

    def __init__(self, filters, strides=2, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)

    def call(self, x):
        s = self.strides
        channels_first = _channel_axis() == 1
        x = x[:, :, ::s, ::s] if channels_first else x[:, ::s, ::s, :]
        extra = self.filters - x.shape[_channel_axis()]
        if extra:
            pad = [[0, 0], [0, extra], [0, 0], [0, 0]] if channels_first else [[0, 0], [0, 0], [0, 0], [0, extra]]
            x = ops.pad(x, pad)
        return x

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (2, 3) if _channel_axis() == 1 else (1, 2)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = -(-shape[axis] // self.strides)
        shape[_channel_axis()] = self.filters
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


@keras.saving.register_keras_serializable(package="keras_cnns")
class MinimumSize(layers.Layer):
    """Passes images through unchanged, refusing those below a network's minimum size.

    A network built for any size (`input_shape=(None, None, C)`, a
    fully-convolutional head) has no size to check when it is built; an image
    smaller than its downsampling allows would otherwise fail deep inside a
    convolution ("Computed output size would be negative"). This first layer
    says instead which network needs which size. It checks the size the
    backend knows when the model is called (always in eager mode, under JAX
    and PyTorch, and for a TensorFlow function traced at that size).

    Args:
        size: The smallest height and width the network takes.
        network: The network's name, for the message.
    """

    def __init__(self, size, network="network", **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.network = str(network)

    def call(self, images):
        spatial = images.shape[2:4] if _channel_axis() == 1 else images.shape[1:3]
        if any(side is not None and side < self.size for side in spatial):
            raise ValueError(
                f"{self.network} needs images of at least {self.size}x{self.size}: its downsampling leaves "
                f"nothing of smaller ones. Received images of {spatial[0]}x{spatial[1]} (batch shape "
                f"{tuple(images.shape)}). Resize or pad them to {self.size}x{self.size} or more."
            )
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "network": self.network}


@keras.saving.register_keras_serializable(package="keras_cnns")
class ImageView(layers.Layer):
    """One view of a batch of images for test-time augmentation: flipped and/or shifted.

    The image keeps its size: a shift by `(dy, dx)` pixels pads the image by
    reflection and crops it back, the way airbench's test-time augmentation
    translates (Jordan 2024). A view changes nothing when `flip` is False
    and the shift is `(0, 0)`.

    Args:
        flip: Mirror left to right.
        shift: `(dy, dx)`: move the content down by `dy` and right by `dx`
            pixels (negative: up, left), each at most 2 pixels.
    """

    def __init__(self, flip=False, shift=(0, 0), **kwargs):
        super().__init__(**kwargs)
        shift = tuple(int(step) for step in shift)
        if len(shift) != 2 or any(abs(step) > 2 for step in shift):
            raise ValueError(f"shift must be (dy, dx) with steps of at most 2 pixels; received shift={shift!r}.")
        self.flip = bool(flip)
        self.shift = shift

    def call(self, images):
        height_axis, width_axis = (2, 3) if _channel_axis() == 1 else (1, 2)
        if self.flip:
            images = ops.flip(images, axis=width_axis)
        for axis, step in ((height_axis, self.shift[0]), (width_axis, self.shift[1])):
            if step:
                pad = [[0, 0]] * 4
                pad[axis] = [step, 0] if step > 0 else [0, -step]
                padded = ops.pad(images, pad, mode="reflect")
                index = [slice(None)] * 4
                # Back to the image's size without needing it (free in a network for any size).
                index[axis] = slice(None, -step) if step > 0 else slice(-step, None)
                images = padded[tuple(index)]
        return images

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "flip": self.flip, "shift": list(self.shift)}

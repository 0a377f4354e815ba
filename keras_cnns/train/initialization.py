"""What a run sets on a freshly built network before it trains: identity
(Dirac) filters and the batch-norm momentum (`TrainConfig.dirac_init`,
`TrainConfig.batch_norm_momentum`).

Dirac initialisation: a convolution whose first filters copy their input
channel through (a 1 at the kernel's centre, 0 elsewhere) starts as an
identity map, so a deep stack of them starts by passing the first layer's
features on unchanged and learns from there. airbench (Jordan 2024) starts
every convolution after its whitening layer so; it is torch's
`nn.init.dirac_` applied to the first `in_channels` filters.
"""

import keras
import numpy as np


def dirac_initialize(model):
    """Sets the first `min(in, out)` filters of every convolution after the first to identity filters.

    Only 2-D convolutions with an odd kernel of at least 3x3 and one group
    take part: a 1x1 convolution mixes channels on purpose, and an even
    kernel has no centre. The remaining filters and the biases keep their
    values.

    Args:
        model: A built `keras.Model`.

    Returns:
        The names of the layers that were set.
    """
    convolutions = [layer for layer in _layers(model) if type(layer) is keras.layers.Conv2D]
    changed = []
    for layer in convolutions[1:]:
        height, width, channels_in, channels_out = layer.kernel.shape
        if height % 2 == 0 or width % 2 == 0 or max(height, width) < 3 or layer.groups != 1:
            continue
        kernel = keras.ops.convert_to_numpy(layer.kernel).copy()
        count = min(channels_in, channels_out)
        kernel[:, :, :, :count] = 0.0
        kernel[height // 2, width // 2, np.arange(count), np.arange(count)] = 1.0
        layer.kernel.assign(kernel)
        changed.append(layer.name)
    return changed


def set_batch_norm_momentum(model, momentum):
    """Sets the momentum of every `BatchNormalization` layer of `model`; returns how many there are."""
    layers = [layer for layer in _layers(model) if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


def _layers(model):
    """Every layer of `model`, nested models' layers included, in order."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)

"""Batch norm in one TensorFlow kernel while a model trains (`TrainConfig.fused_batch_norm`).

Keras 3's `BatchNormalization` computes the batch's mean and variance with
`ops.moments` and normalizes with elementwise operations, in float32 with
casts around them under mixed precision. On the TensorFlow backend that is
many passes over every activation, forward and backward: on the main job's
network it was 42-53% of a training step on a 2-core Xeon (BENCHMARKS.md,
"bfloat16 on this CPU"). TensorFlow's `FusedBatchNormV3` (oneDNN's batch
norm where TensorFlow uses oneDNN) computes the same function in one kernel
each way.

`fused_batch_norm(model)` is a context manager. Inside it, every plain
`BatchNormalization` layer of the model (normalizing the last axis of 4-D
inputs, no renorm, no synchronization across replicas) calls that kernel;
everything else about the layer stays Keras's own: its weights, its moving
statistics (updated with the layer's momentum, with the batch variance
Keras uses), and what `model.save` writes, so a saved model loads and runs
on every backend without this package. On exit the layers are as they were.
The builders never see it: they use `keras.layers` only.

Example:

```python
with fused_batch_norm(model):
    model.fit(train, epochs=8)
```
"""

import contextlib

FUSED_BATCH_NORM_MODES = ("auto", True, False)
# Layers with a smaller epsilon keep Keras's computation: fused kernels (cuDNN's on a GPU) take no less than 1e-5;
# keras.applications' ResNets use this value to stay above it.
MIN_EPSILON = 1.001e-5


def use_fused_batch_norm(mode):
    """Whether `TrainConfig.fused_batch_norm`'s `mode` fuses batch norm on this backend.

    Raises:
        ValueError: If `mode` is True on a backend other than TensorFlow.
    """
    import keras  # Here, not at the top: a config is made without importing Keras.

    tensorflow = keras.backend.backend() == "tensorflow"
    if mode is True and not tensorflow:
        raise ValueError(
            f"fused_batch_norm=True needs the TensorFlow backend (its FusedBatchNormV3 kernel); this is "
            f"{keras.backend.backend()!r}. Pass fused_batch_norm='auto' (fused on TensorFlow only) or False."
        )
    return mode is not False and tensorflow


@contextlib.contextmanager
def fused_batch_norm(model, enabled=True):
    """Inside the block, `model`'s plain batch-norm layers compute with TensorFlow's fused kernel.

    Args:
        model: A `keras.Model`; nested models are searched too.
        enabled: False leaves the model as it is (for a caller's switch).

    Yields:
        The number of layers switched.
    """
    layers = [layer for layer in _layers(model) if _fusable(layer)] if enabled else []
    for layer in layers:
        layer.call = _fused_call(layer, layer.call)
    try:
        yield len(layers)
    finally:
        for layer in layers:
            del layer.call  # The class's own `call` again.


def _layers(model):
    """Every layer of `model`, the layers of nested models included."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def _fusable(layer):
    """A built, plain batch norm over the channels of 4-D inputs, not already switched.

    Only float32, float16 and bfloat16 inputs, and an epsilon of at least
    `MIN_EPSILON`; other layers keep Keras's own computation.
    """
    import keras

    spec = getattr(layer, "input_spec", None)
    return (type(layer) is keras.layers.BatchNormalization and layer.built and not layer.renorm
            and not layer.synchronized and getattr(spec, "ndim", None) == 4 and layer.axis in (-1, 3)
            and layer.epsilon >= MIN_EPSILON and layer.compute_dtype in ("float32", "float16", "bfloat16")
            and "call" not in vars(layer))


def _fused_call(layer, keras_call):
    import tensorflow as tf

    def call(inputs, training=None, mask=None):
        if mask is not None:
            return keras_call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        scale = layer.gamma if layer.scale else tf.ones((channels,), tf.float32)
        offset = layer.beta if layer.center else tf.zeros((channels,), tf.float32)
        if training and layer.trainable:
            outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, scale, offset, epsilon=layer.epsilon, is_training=True)
            # The kernel returns the batch variance with Bessel's correction; Keras's moving average takes it without.
            count = tf.cast(tf.size(inputs) // channels, tf.float32)
            variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
            momentum = layer.momentum
            layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
            layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, scale, offset, mean=layer.moving_mean, variance=layer.moving_variance,
                epsilon=layer.epsilon, is_training=False)
        return tf.cast(outputs, layer.compute_dtype)

    return call

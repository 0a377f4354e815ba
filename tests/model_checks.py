"""Checks every registered model must pass; a new model of a known family gets them for free (a new
family needs a representative in `BACKEND_REPRESENTATIVES` for the option checks).

The checks are backend-agnostic except `trainable_gradients`, which asks the
active backend for gradients its own way.
"""

import keras
import pytest
import numpy as np

import keras_cnns


# One registered model per code path of the builders. The other variants of a family differ from these
# only in their tables of stage depths and widths, which no backend sees. The TensorFlow run builds,
# differentiates and saves every registered model (test_model_at_minimum_size) and checks each option's code
# path (no top, channels, heads, dtype policies) on these; the JAX and PyTorch runs check only these.
BACKEND_REPRESENTATIVES = ("lenet5", "alexnet", "vgg11", "vgg11_bn", "resnet18", "resnet50", "resnet20",
                           "googlenet", "nin", "allconv")


# The deeper variants of a family whose shallower ones (ResNet-20 and -32; ResNet-18, -34 and -50) every check
# covers: the same builder with more blocks per stage, whose counts test_cifar_resnets_have_the_papers_sizes and
# keras.applications' parameter counts check. Their builds and gradients (44 to 152 layers deep, 10-40 s each on
# a 2-core AMD EPYC without AVX-512) run with `-m heavy`.
DEEPEST = ("resnet44", "resnet56", "resnet110", "resnet101", "resnet152")


def models_to_check(deepest_heavy=False, representatives=False):
    """Every registered model on TensorFlow; on another backend, or with `representatives`,
    `BACKEND_REPRESENTATIVES`.

    With `deepest_heavy`, the `DEEPEST` models come marked `heavy` (selected with `-m heavy`).
    """
    names = keras_cnns.list_models()
    if keras.backend.backend() != "tensorflow" or representatives:
        missing = sorted(set(BACKEND_REPRESENTATIVES) - set(names))
        assert not missing, f"BACKEND_REPRESENTATIVES names unregistered models: {missing}"
        # A new family gets the option checks only through a representative: name one for it here.
        families = {keras_cnns.model_info(name).family for name in BACKEND_REPRESENTATIVES}
        unchecked = sorted(name for name in names if keras_cnns.model_info(name).family not in families)
        assert not unchecked, f"no model of these models' families is in BACKEND_REPRESENTATIVES: {unchecked}"
        names = [name for name in names if name in BACKEND_REPRESENTATIVES]
    if not deepest_heavy:
        return names
    return [pytest.param(name, marks=pytest.mark.heavy) if name in DEEPEST else name for name in names]


def small_config(name, channels=3, classes=5):
    """Keyword arguments that build `name` small enough for a quick check:
    its minimum input size, few classes, and a quarter of the width for the
    networks whose default has more than 2M parameters."""
    info = keras_cnns.model_info(name)
    size = info.min_input_size
    kwargs = dict(input_shape=(size, size, channels), classes=classes)
    if info.num_params > 2_000_000:
        kwargs["width_multiplier"] = 0.25
    return kwargs


def random_images(input_shape, batch=2, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, *input_shape)).astype("float32")


def outputs_as_list(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def trainable_gradients(model, x):
    """Gradients of a scalar loss (sum of squared outputs) with respect to
    every trainable weight, in inference mode so that no dropout or batch
    statistics hide a weight. Returns a list of NumPy arrays (None where no
    gradient flows)."""
    backend = keras.backend.backend()

    def loss_of(outputs):
        return sum(keras.ops.sum(keras.ops.square(o)) for o in outputs_as_list(outputs))

    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_of(model(x, training=False))
        grads = tape.gradient(loss, model.trainable_weights)
        return [None if g is None else keras.ops.convert_to_numpy(g) for g in grads]
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_fn(trainable_values):
            outputs, _ = model.stateless_call(trainable_values, non_trainable, x, training=False)
            return loss_of(outputs)

        # Compiled once: op by op, GoogLeNet's gradients took 25 s here, compiled 7 s.
        return [np.asarray(g) for g in jax.jit(jax.grad(loss_fn))(trainable)]
    if backend == "torch":
        import torch

        loss = loss_of(model(torch.as_tensor(x), training=False))
        loss.backward()
        return [None if v.value.grad is None else v.value.grad.cpu().numpy() for v in model.trainable_variables]
    raise NotImplementedError(f"No gradient helper for backend {backend!r}")


def assert_same_outputs(model_a, model_b, x, atol=1e-5):
    for a, b in zip(outputs_as_list(model_a.predict(x, verbose=0)), outputs_as_list(model_b.predict(x, verbose=0))):
        np.testing.assert_allclose(a, b, atol=atol, rtol=1e-5)


def copy_weights_by_name(source, target):
    """Copies every weight-holding layer of `source` into the layer of the same
    name in `target`; returns how many layers were copied."""
    copied = 0
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied += 1
    return copied

"""Gradients of a model's output with respect to its input, on each Keras backend.

Keras 3 has no backend-independent `gradient` op, so this is the one place
that asks the active backend for one: `tf.GradientTape` on TensorFlow,
`jax.value_and_grad` over `model.stateless_call` on JAX, `torch.autograd`
on PyTorch. Gradient ascent on filters and Grad-CAM both go through
`value_and_input_gradient`.
"""

import keras
import numpy as np

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")


def check_backend():
    """Raises if the active Keras backend has no gradient path here.

    Raises:
        NotImplementedError: On backends other than `SUPPORTED_BACKENDS`.
    """
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise NotImplementedError(
            f"Input gradients (gradient ascent, Grad-CAM) run on the {' and '.join(SUPPORTED_BACKENDS)} "
            f"backends; the active backend is {backend!r}. Set KERAS_BACKEND to one of those before "
            "importing keras."
        )


def value_and_input_gradient(model, inputs, objective):
    """Runs `model` in inference mode and differentiates `objective` by its input.

    Args:
        model: A Keras model with one input.
        inputs: float32 array, a batch for the model.
        objective: Function `(outputs) -> scalar tensor`, written with
            `keras.ops`; it is summed over the batch by the caller's choice.

    Returns:
        `(outputs, gradient)`: the model's outputs (NumPy, nested as the
        model returns them) and the gradient of `objective` with respect to
        `inputs` (NumPy, same shape as `inputs`).

    Raises:
        NotImplementedError: On an unsupported backend.
    """
    check_backend()
    inputs = np.asarray(inputs, dtype="float32")
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            outputs = model(tensor, training=False)
            value = objective(outputs)
        gradient = tape.gradient(value, tensor)
        return _to_numpy(outputs), np.asarray(gradient)
    if keras.backend.backend() == "torch":
        import torch

        tensor = torch.tensor(inputs, requires_grad=True)
        outputs = model(tensor, training=False)
        objective(outputs).backward()
        return _to_numpy(keras.tree.map_structure(lambda t: t.detach(), outputs)), tensor.grad.cpu().numpy()

    import jax

    trainable = [variable.value for variable in model.trainable_variables]
    non_trainable = [variable.value for variable in model.non_trainable_variables]

    def value_of(x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return objective(outputs), outputs

    (_, outputs), gradient = jax.value_and_grad(value_of, has_aux=True)(inputs)
    return _to_numpy(outputs), np.asarray(gradient)


def _to_numpy(outputs):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), outputs)

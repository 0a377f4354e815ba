"""Gradients of a model's output with respect to its input, on each Keras backend.

Keras 3 has no backend-independent `gradient` op, so this is the one place
that asks the active backend for one: `tf.GradientTape` on TensorFlow,
`jax.value_and_grad` over `model.stateless_call` on JAX, `torch.autograd`
on PyTorch. Grad-CAM asks for one gradient (`value_and_input_gradient`);
gradient ascent on filters asks for many, through a pass traced once
(`input_gradient_function`).
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
    return input_gradient_function(model, objective, compiled=False)(inputs)


def input_gradient_function(model, objective, compiled=True):
    """`value_and_input_gradient` for one model and objective, as a function of the inputs.

    For a loop that asks for many gradients (gradient ascent): with
    `compiled`, the forward and backward pass are traced once
    (`tf.function` on TensorFlow, `jax.jit` on JAX) instead of running op by
    op at every call: 3.1 to 4.2 times faster for a 40-step ascent on
    ResNet-20 (BENCHMARKS.md, "Inner loops"). A single gradient (Grad-CAM)
    has no use for the trace.

    Args:
        model: A Keras model with one input.
        objective: As for `value_and_input_gradient`.
        compiled: Whether to trace the pass once (TensorFlow, JAX; PyTorch
            runs it eagerly either way).

    Returns:
        A function `inputs -> (outputs, gradient)`, NumPy in and out; inputs
        of a new shape are traced again.

    Raises:
        NotImplementedError: On an unsupported backend.
    """
    check_backend()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def tensorflow_pass(tensor):
            with tf.GradientTape() as tape:
                tape.watch(tensor)
                outputs = model(tensor, training=False)
                value = objective(outputs)
            return outputs, tape.gradient(value, tensor)

        step = tf.function(tensorflow_pass, reduce_retracing=True) if compiled else tensorflow_pass

        def run(inputs):
            outputs, gradient = step(tf.convert_to_tensor(np.asarray(inputs, dtype="float32")))
            return _to_numpy(outputs), np.asarray(gradient)

        return run
    if backend == "torch":
        import torch

        def run(inputs):
            tensor = torch.tensor(np.asarray(inputs, dtype="float32"), requires_grad=True)
            outputs = model(tensor, training=False)
            objective(outputs).backward()
            return _to_numpy(keras.tree.map_structure(lambda t: t.detach(), outputs)), tensor.grad.cpu().numpy()

        return run

    import jax

    def value_of(trainable, non_trainable, x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return objective(outputs), outputs

    gradient_of = jax.value_and_grad(value_of, argnums=2, has_aux=True)
    gradient_of = jax.jit(gradient_of) if compiled else gradient_of

    def run(inputs):
        trainable = [variable.value for variable in model.trainable_variables]
        non_trainable = [variable.value for variable in model.non_trainable_variables]
        (_, outputs), gradient = gradient_of(trainable, non_trainable, np.asarray(inputs, dtype="float32"))
        return _to_numpy(outputs), np.asarray(gradient)

    return run


def _to_numpy(outputs):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), outputs)

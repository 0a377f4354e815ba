"""Grad-CAM: where in the image the evidence for a class lies.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017 (arXiv:1610.02391). For the feature
maps `A_k` of the last convolutional layer and the score `y_c` of class `c`
*before* the softmax:

    alpha_k = mean over positions of d y_c / d A_k
    map     = ReLU(sum_k alpha_k A_k)

The map has the layer's resolution; it is scaled to `[0, 1]` and resized to
the input for display. The layer is found by `graph.feature_map_call(model,
purpose="gradcam")`: the last feature map that every path to the main output
goes through (after residual adds and inception concatenations; auxiliary
classifiers are ignored), computed by a convolution, with more than one
position.

Backends: TensorFlow and JAX (`keras_cnns.inspect.gradients`).
"""

import dataclasses

import keras
import numpy as np

from keras_cnns.inspect import graph
from keras_cnns.inspect.gradients import check_backend, value_and_input_gradient


@dataclasses.dataclass(frozen=True)
class GradCAM:
    """A Grad-CAM heat map and what it explains.

    Attributes:
        heatmap: float32 `(h, w)` in `[0, 1]` at the layer's resolution.
        upsampled: float32 `(H, W)` in `[0, 1]` at the input's resolution
            (bilinear).
        class_index: The class explained.
        predicted_index: The class the model predicts.
        probabilities: The model's main output for the image.
        layer_name: The layer whose feature maps were weighted.
    """

    heatmap: np.ndarray
    upsampled: np.ndarray
    class_index: int
    predicted_index: int
    probabilities: np.ndarray
    layer_name: str


def grad_cam(model, image, class_index=None, layer_name=None):
    """Computes the Grad-CAM heat map of one image.

    Args:
        model: A functional classifier (any registered network; keras.applications
            models; your own).
        image: One input, `(H, W, C)`, prepared as for training (normalized;
            see `keras_cnns.inspect.prepare_image`).
        class_index: The class to explain; default: the predicted class.
        layer_name: The layer to weight; default: found as described above.

    Returns:
        A `GradCAM`.

    Raises:
        ValueError: If `image` does not fit the model, `class_index` is out of
            range, or `layer_name` is not a layer every path to the output
            goes through.
        NotImplementedError: On a backend other than TensorFlow or JAX.

    Example:

    ```python
    trained = load_trained("runs/r20")
    display, x = prepare_image("shirt.png", trained.model, trained.normalization)
    result = grad_cam(trained.model, x)
    result.layer_name, result.class_index, result.upsampled.shape
    ```
    """
    check_backend()
    model = graph.as_functional(model)
    x = _one_image(model, image)
    calls = graph.layer_calls(model)
    if layer_name is None:
        target = graph.feature_map_call(model, purpose="gradcam", calls=calls)
    else:
        target = _checked_layer(model, layer_name, calls)
    score_tensor, linear = _class_scores(model, calls)

    feature_model = keras.Model(graph.model_input(model), [target.output, graph.main_output(model)])
    features, probabilities = (np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float32)
                               for t in feature_model(x, training=False))
    probabilities = probabilities[0]
    num_classes = probabilities.shape[-1]
    predicted = int(np.argmax(probabilities))
    if class_index is None:
        class_index = predicted
    if not isinstance(class_index, (int, np.integer)) or not 0 <= class_index < num_classes:
        raise ValueError(
            f"class_index must be an int in [0, {num_classes}); received {class_index!r}. "
            "Leave it out to explain the predicted class."
        )
    class_index = int(class_index)

    head_model = keras.Model(target.output, score_tensor)

    def class_score(scores):
        if linear is not None:
            kernel, bias = (keras.ops.convert_to_tensor(part) for part in linear)
            scores = keras.ops.matmul(scores, kernel) + bias
        return keras.ops.sum(scores[..., class_index])

    _, gradient = value_and_input_gradient(head_model, features, class_score)
    if keras.config.image_data_format() == "channels_first":
        features, gradient = np.moveaxis(features, 1, -1), np.moveaxis(gradient, 1, -1)
    weights = gradient[0].mean(axis=(0, 1))
    heatmap = np.maximum((features[0] * weights).sum(axis=-1), 0.0)
    peak = float(heatmap.max())
    heatmap = (heatmap / peak if peak > 0 else np.zeros_like(heatmap)).astype(np.float32)
    return GradCAM(
        heatmap=heatmap,
        upsampled=upsample(heatmap, x.shape[1:3] if keras.config.image_data_format() != "channels_first"
                           else x.shape[2:4]),
        class_index=class_index,
        predicted_index=predicted,
        probabilities=probabilities,
        layer_name=target.name,
    )


def upsample(heatmap, size):
    """Bilinear resize of a `(h, w)` map to `size`, clipped to `[0, 1]`."""
    resized = keras.ops.image.resize(
        np.asarray(heatmap, dtype=np.float32)[None, ..., None], tuple(int(s) for s in size),
        interpolation="bilinear", data_format="channels_last",
    )
    return np.clip(np.asarray(keras.ops.convert_to_numpy(resized))[0, ..., 0], 0.0, 1.0)


def _one_image(model, image):
    x = np.asarray(image, dtype=np.float32)
    expected = tuple(model.inputs[0].shape[1:])
    if x.ndim == len(expected):
        x = x[None]
    if x.ndim != len(expected) + 1 or x.shape[0] != 1 or any(
        want is not None and got != want for got, want in zip(x.shape[1:], expected)
    ):
        raise ValueError(
            f"grad_cam explains one image of shape {expected}; received an array of shape "
            f"{np.shape(image)}. Prepare it with keras_cnns.inspect.prepare_image."
        )
    if not np.isfinite(x).all():
        raise ValueError("The image holds NaN or inf values; check how it was prepared.")
    return x


def _checked_layer(model, layer_name, calls):
    call = graph.find_call(model, layer_name, calls)
    dominating = {c.name for c in graph.dominating_calls(model, calls)}
    if call.name not in dominating or not graph.is_feature_map(call.output):
        choices = [c.name for c in graph.feature_map_calls(model, calls=calls)]
        raise ValueError(
            f"Grad-CAM needs a feature map that every path to the output goes through; "
            f"{layer_name!r} is {'inside a branch' if call.name not in dominating else 'not a feature map'}. "
            f"Layers that qualify: {', '.join(choices[-12:])}."
        )
    return call


def _class_scores(model, calls):
    """The tensor of class scores before the softmax, and a linear layer to apply to it.

    Returns `(tensor, None)` when the main output comes from a `Softmax`
    layer or a softmax `Activation` (the tensor is its input), `(tensor,
    (kernel, bias))` when it comes from a `Dense` with a softmax activation
    (the tensor is the dense layer's input), else `(main output, None)`.
    """
    output = graph.main_output(model)
    producer = next(call for call in calls if any(t is output for t in call.outputs))
    layer = producer.layer
    if isinstance(layer, keras.layers.Softmax) or (
        isinstance(layer, keras.layers.Activation) and _is_softmax(layer.activation)
    ):
        return producer.inputs[0], None
    if isinstance(layer, keras.layers.Dense) and _is_softmax(layer.activation):
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float32)
        bias = (np.asarray(keras.ops.convert_to_numpy(layer.bias), dtype=np.float32)
                if layer.use_bias else np.zeros(kernel.shape[-1], np.float32))
        return producer.inputs[0], (kernel, bias)
    return output, None


def _is_softmax(activation):
    return getattr(activation, "__name__", None) == "softmax"

"""What each layer computes: feature maps, first-layer kernels, and the patterns filters look for.

* `feature_maps`: the activations of chosen layers for one image.
* `first_layer_kernels`: the first convolution's kernels, which act directly
  on pixels and so can be shown as small images.
* `filter_patterns`: for deeper layers, whose kernels mean nothing as
  pictures, the input that excites a filter most, found by gradient ascent
  on the input (Erhan et al. 2009, "Visualizing Higher-Layer Features of a
  Deep Network"; Simonyan et al. 2013, arXiv:1312.6034).
"""

import keras
import numpy as np

from keras_cnns.data.preprocessing import denormalize
from keras_cnns.inspect import graph
from keras_cnns.inspect.gradients import input_gradient_function

# Gradient ascent: steps, step size (in input standard deviations per step,
# for the average pixel) and the starting noise.
ASCENT_STEPS = 40
ASCENT_STEP_SIZE = 0.1
ASCENT_START_NOISE = 0.1


def default_feature_layers(model, count=4):
    """Up to `count` feature maps spread from the first to the last: names to show.

    Picks evenly among `graph.feature_map_calls` (every convolution of a
    chain; every block output of a ResNet; every inception module), always
    including the first and the Grad-CAM layer.
    """
    calls = graph.layer_calls(model)
    candidates = graph.feature_map_calls(model, calls=calls)
    if not candidates:
        candidates = [call for call in calls if graph.is_feature_map(call.output)
                      and not isinstance(call.layer, keras.layers.InputLayer)]
    last = graph.feature_map_call(model, purpose="gradcam", calls=calls) if candidates else None
    if last is not None and last in candidates:
        candidates = candidates[: candidates.index(last) + 1]
    if len(candidates) <= count:
        return [call.name for call in candidates]
    picks = np.linspace(0, len(candidates) - 1, count).round().astype(int)
    return [candidates[i].name for i in sorted(set(picks))]


def feature_maps(model, image, layer_names=None):
    """The activations of chosen layers for one image.

    Args:
        model: A functional model.
        image: One input `(H, W, C)`, prepared as for training.
        layer_names: Names of layers with rank-4 outputs; default
            `default_feature_layers(model)`.

    Returns:
        Dict layer name -> float32 array `(h, w, channels)`.

    Raises:
        ValueError: If a name is not a layer of the model, or its output is
            not a feature map.

    Example:

    ```python
    maps = feature_maps(model, x, ["conv1_relu", "conv2_block3_out"])
    maps["conv1_relu"].shape   # (32, 32, 16)
    ```
    """
    model = graph.as_functional(model)
    calls = graph.layer_calls(model)
    names = list(layer_names) if layer_names is not None else default_feature_layers(model)
    tensors = []
    for name in names:
        call = graph.find_call(model, name, calls)
        if not graph.is_feature_map(call.output):
            raise ValueError(
                f"Layer {name!r} outputs shape {tuple(call.output.shape)}, not feature maps "
                "(batch, height, width, channels). Choose a convolutional layer."
            )
        tensors.append(call.output)
    x = np.asarray(image, dtype=np.float32)
    x = x[None] if x.ndim == 3 else x
    outputs = keras.Model(graph.model_input(model), tensors)(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    result = {}
    for name, output in zip(names, outputs):
        array = np.asarray(keras.ops.convert_to_numpy(output), dtype=np.float32)[0]
        if keras.config.image_data_format() == "channels_first":
            array = np.moveaxis(array, 0, -1)
        result[name] = array
    return result


def first_convolution(model):
    """The name and kernel `(kh, kw, in_channels, filters)` of the model's first convolution.

    Raises:
        ValueError: If the model has no `Conv2D`.
    """
    for call in graph.layer_calls(model):
        if isinstance(call.layer, keras.layers.Conv2D):
            kernel = np.asarray(keras.ops.convert_to_numpy(call.layer.kernel), dtype=np.float32)
            return call.name, kernel
    raise ValueError(f"{model.name!r} has no Conv2D layer whose kernels could be shown.")


def filter_patterns(model, layer_name, filters=None, *, steps=ASCENT_STEPS,
                    step_size=ASCENT_STEP_SIZE, normalization=None, seed=0):
    """The input patterns that excite chosen filters of a layer most (gradient ascent).

    Starting from faint noise, each step moves the input along the gradient
    of the filter's mean activation (over positions away from the border,
    whose windows hang over the padding), normalized so that the average
    pixel moves `step_size`, and keeps the input within the range real
    images have after normalization. All filters are optimized together, one
    image each.

    Args:
        model: A functional model.
        layer_name: A layer with feature maps.
        filters: Filter (channel) indices; default the first 16.
        steps: Gradient-ascent steps.
        step_size: Step in normalized-input units per average pixel.
        normalization: The model's input normalization (a run's
            `metrics.json`), to keep pixels in `[0, 255]` and to turn the
            result back into pixels; None: inputs kept in `[-3, 3]`.
        seed: Seed of the starting noise.

    Returns:
        `(patterns, activations)`: float32 `(n, H, W, C)` in `[0, 1]`
        (contrast stretched for display) and the mean activation each
        pattern reaches.

    Raises:
        ValueError: On an unknown layer, a layer without feature maps, or
            filter indices out of range.
        NotImplementedError: On a backend other than TensorFlow or JAX.
    """
    model = graph.as_functional(model)
    call = graph.find_call(model, layer_name)
    if not graph.is_feature_map(call.output):
        raise ValueError(f"Layer {layer_name!r} has no feature maps (shape {tuple(call.output.shape)}).")
    channels_first = keras.config.image_data_format() == "channels_first"
    num_filters = call.output.shape[1 if channels_first else -1]
    filters = list(range(min(16, num_filters))) if filters is None else [int(f) for f in filters]
    if not filters or any(not 0 <= f < num_filters for f in filters):
        raise ValueError(
            f"Layer {layer_name!r} has {num_filters} filters; received filters={filters}. "
            f"Choose indices in [0, {num_filters})."
        )
    input_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in input_shape):
        raise ValueError(
            f"{model.name!r} takes inputs of open size {input_shape}; gradient ascent needs a size. "
            "Build the model with a fixed input_shape."
        )
    low, high = _input_range(normalization, input_shape)
    tensor, linear_part = _before_nonlinearity(call)
    sub_model = keras.Model(graph.model_input(model), tensor)
    selector = np.zeros((len(filters), num_filters), dtype=np.float32)
    selector[np.arange(len(filters)), filters] = 1.0

    def mean_activation(outputs):
        maps = outputs if linear_part is None else linear_part(outputs)
        maps = maps if not channels_first else keras.ops.moveaxis(maps, 1, -1)
        height, width = maps.shape[1], maps.shape[2]
        border_h, border_w = height // 8, width // 8
        inner = maps[:, border_h:height - border_h, border_w:width - border_w, :]
        per_filter = keras.ops.mean(inner, axis=(1, 2))
        return keras.ops.sum(per_filter * keras.ops.convert_to_tensor(selector))

    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, ASCENT_START_NOISE, size=(len(filters), *input_shape)).astype(np.float32)
    x = np.clip(x, low, high)
    gradient_of = input_gradient_function(sub_model, mean_activation)
    for _ in range(steps):
        _, gradient = gradient_of(x)
        scale = np.sqrt(np.mean(np.square(gradient), axis=(1, 2, 3), keepdims=True)) + 1e-8
        x = np.clip(x + step_size * gradient / scale, low, high)
    outputs = keras.Model(graph.model_input(model), call.output)(x, training=False)
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float32)
    if channels_first:
        outputs, x = np.moveaxis(outputs, 1, -1), np.moveaxis(x, 1, -1)
    activations = outputs.mean(axis=(1, 2))[np.arange(len(filters)), filters]
    return _for_display(x, normalization), activations


def _before_nonlinearity(call):
    """The tensor to ascend on for a layer's filters, and a linear map to apply to it.

    A ReLU passes no gradient where its input is negative, so a filter that
    starts silent would never wake up. The ascent therefore maximizes the
    response before the nonlinearity: the input of an `Activation` / `ReLU`
    layer, or the linear part of a `Conv2D` with a fused activation
    (recomputed with `keras.ops.conv` from the layer's own kernel and bias).
    The reported activations are those of the layer itself.
    """
    layer = call.layer
    if isinstance(layer, (keras.layers.Activation, keras.layers.ReLU)):
        return call.inputs[0], None
    fused = getattr(layer, "activation", None)
    if (type(layer) is keras.layers.Conv2D and fused is not None
            and getattr(fused, "__name__", "linear") != "linear" and layer.groups == 1):
        kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), dtype=np.float32)
        bias = (np.asarray(keras.ops.convert_to_numpy(layer.bias), dtype=np.float32)
                if layer.use_bias else None)

        def linear_part(inputs):
            outputs = keras.ops.conv(inputs, kernel, strides=layer.strides, padding=layer.padding,
                                     data_format=layer.data_format, dilation_rate=layer.dilation_rate)
            if bias is None:
                return outputs
            shape = (1, -1, 1, 1) if layer.data_format == "channels_first" else (1, 1, 1, -1)
            return outputs + keras.ops.reshape(bias, shape)

        return call.inputs[0], linear_part
    return call.output, None


def _input_range(normalization, input_shape):
    """Bounds of normalized inputs that correspond to pixels in `[0, 255]`."""
    if normalization is None:
        return -3.0, 3.0
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)
    shape = (1, 1, 1, -1) if keras.config.image_data_format() != "channels_first" else (1, -1, 1, 1)
    return ((0.0 - mean) / std).reshape(shape), ((1.0 - mean) / std).reshape(shape)


def _for_display(x, normalization):
    """Patterns as pixels in `[0, 1]`, each centred and contrast stretched."""
    if normalization is not None:
        x = denormalize(x, normalization) / 255.0
    centred = x - x.mean(axis=(1, 2, 3), keepdims=True)
    spread = centred.std(axis=(1, 2, 3), keepdims=True) + 1e-8
    return np.clip(0.5 + 0.15 * centred / spread, 0.0, 1.0).astype(np.float32)

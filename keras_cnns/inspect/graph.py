"""The functional graph of a Keras model: its layer calls, in order, and its key tensors.

A Keras 3 functional model is a graph of `Node`s (one per layer call) joined by
`KerasTensor`s. Keras exposes the layers (`model.operations`) but not the calls
of one particular model: `layer.output` is the output of the layer's *first*
call, which belongs to another model when the layer is shared (a backbone
reused in a second model). Everything here therefore walks the model's own
nodes (`model._nodes_by_depth`, as `keras.Model.summary` does), and the rest
of `keras_cnns.inspect` asks this module for tensors instead of using
`layer.output`.

Three questions are answered here, for every tool of the package:

* `layer_calls`: each layer call of a model, in an order where every call
  comes after the calls that produce its inputs.
* `feature_map_call`: the last feature map, for Grad-CAM ("the last
  convolutional layer") and for cutting a backbone off its classifier.
* `is_head_layer`: whether a layer belongs to a classifier head, by the layer
  names keras.applications and `keras_cnns.models.base.classifier` use.
"""

import dataclasses
import re

import keras

# Layer names of classifier heads: keras.applications (`flatten`, `fc1`,
# `fc2`, `avg_pool`, `max_pool`, `predictions`) and this package's heads
# (`top_dropout`, `fc1_dropout`, the conv head's `fc1_conv`, `predictions_conv`).
HEAD_LAYER_NAMES = re.compile(
    r"^(flatten|avg_pool|max_pool|top_dropout|predictions(_conv)?|fc\d+(_conv|_dropout|_bn|_relu)?)$"
)
CONVOLUTIONS = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)
POOLINGS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
GLOBAL_POOLINGS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
# Layers that are the identity at inference: a feature map is taken before them.
INFERENCE_IDENTITIES = (
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
)
# Layers that move or resize pixels without computing features from them.
PIXEL_MOVERS = (keras.layers.ZeroPadding2D, keras.layers.Cropping2D, keras.layers.Reshape,
                keras.layers.Permute, keras.layers.Flatten)


@dataclasses.dataclass(frozen=True)
class LayerCall:
    """One call of one layer inside a model.

    Attributes:
        layer: The layer (or nested model) that was called.
        inputs: The model's own tensors that went in.
        outputs: The tensors that came out.
        parents: Names of the layers that produced `inputs` (empty for an input).
    """

    layer: object
    inputs: tuple
    outputs: tuple
    parents: tuple

    @property
    def name(self):
        """The layer's name."""
        return self.layer.name

    @property
    def output(self):
        """The first output tensor."""
        return self.outputs[0]


def as_functional(model):
    """A functional view of `model`: itself, or a built `Sequential`'s graph.

    Raises:
        ValueError: If `model` is a subclassed model or an unbuilt `Sequential`,
            which have no graph to walk.
    """
    if isinstance(model, keras.Sequential):
        try:
            return keras.Model(model.inputs, model.outputs, name=model.name)
        except (AttributeError, ValueError):
            pass
    if not hasattr(model, "_nodes_by_depth"):
        raise ValueError(
            f"{model.name!r} ({type(model).__name__}) has no functional graph to inspect. "
            "keras_cnns.inspect works on functional models (every keras_cnns network and "
            "keras.applications model) and on Sequential models built with an Input; "
            "build the model with keras.Input(...) first."
        )
    return model


def layer_calls(model):
    """The layer calls of a functional model, each after those it depends on.

    Calls are ordered by depth in the graph (inputs first), and within one
    depth in the order of `model.operations`, so that a chain reads top to
    bottom like `model.summary()`.

    Args:
        model: A functional or built `Sequential` model.

    Returns:
        A list of `LayerCall`.
    """
    model = as_functional(model)
    depth_of = {}
    for depth, nodes in model._nodes_by_depth.items():
        for node in nodes:
            depth_of[id(node)] = depth
    position = {id(op): i for i, op in enumerate(model.operations)}
    nodes = [node for node_list in model._nodes_by_depth.values() for node in node_list]
    nodes.sort(key=lambda node: (-depth_of[id(node)], position.get(id(node.operation), 0)))
    calls = []
    for node in nodes:
        inputs = tuple(node.input_tensors)
        parents = tuple(
            tensor._keras_history.operation.name for tensor in inputs
            if getattr(tensor, "_keras_history", None) and tensor._keras_history.operation is not None
        )
        calls.append(LayerCall(layer=node.operation, inputs=inputs,
                               outputs=tuple(node.output_tensors), parents=parents))
    return calls


def find_call(model, layer_name, calls=None):
    """The call of the layer named `layer_name` in `model`.

    Raises:
        ValueError: If no layer of the model has that name; the message lists
            the names that hold feature maps.
    """
    calls = layer_calls(model) if calls is None else calls
    for call in calls:
        if call.name == layer_name:
            return call
    spatial = [call.name for call in calls if is_feature_map(call.output)]
    raise ValueError(
        f"Model {model.name!r} has no layer named {layer_name!r}. Layers with feature maps: "
        f"{', '.join(spatial[:40])}{' ...' if len(spatial) > 40 else ''}."
    )


def is_feature_map(tensor):
    """Whether `tensor` is a rank-4 image-like tensor (batch, two spatial axes, channels)."""
    return len(tensor.shape) == 4


def spatial_size(tensor):
    """`(height, width)` of a rank-4 tensor in the current data format (None where unknown)."""
    shape = tensor.shape
    if keras.config.image_data_format() == "channels_first":
        return shape[2], shape[3]
    return shape[1], shape[2]


def is_head_layer(layer):
    """Whether `layer` is part of a classifier head, by its name (see `HEAD_LAYER_NAMES`)."""
    return bool(HEAD_LAYER_NAMES.match(layer.name))


def model_input(model):
    """The model's input tensor (its list of inputs when it has several), for sub-models."""
    inputs = as_functional(model).inputs
    return inputs[0] if len(inputs) == 1 else inputs


def main_output(model):
    """The model's first output: the main classifier (GoogLeNet's auxiliary outputs come after)."""
    return as_functional(model).outputs[0]


def dominating_calls(model, calls=None):
    """The calls whose output every path from the inputs to the main output goes through.

    In a chain every call dominates; inside a residual block or an inception
    module the branches do not, but the `Add` / `Concatenate` that joins them
    does. Only calls that lead to the main output are considered, so
    auxiliary classifiers never count.

    Method: in a topological order, a tensor dominates exactly when, right
    after it is produced, no other tensor is still waiting to be consumed
    (any other such tensor would be a way around it).

    Returns:
        The dominating `LayerCall`s, in graph order.
    """
    calls = layer_calls(model) if calls is None else calls
    target = id(main_output(model))
    producer = {id(tensor): i for i, call in enumerate(calls) for tensor in call.outputs}
    # Keep only the calls the main output depends on.
    needed, stack = set(), [producer[target]]
    while stack:
        index = stack.pop()
        if index in needed:
            continue
        needed.add(index)
        stack.extend(producer[id(t)] for t in calls[index].inputs if id(t) in producer)
    order = sorted(needed)
    last_use = {}
    for index in order:
        for tensor in calls[index].inputs:
            source = producer.get(id(tensor))
            if source in needed:
                last_use[source] = max(last_use.get(source, -1), index)
    last_use[producer[target]] = float("inf")
    closing = {}
    for source, index in last_use.items():
        closing[index] = closing.get(index, 0) + 1
    dominating, waiting = [], 0
    for index in order:
        waiting -= closing.get(index, 0)  # Tensors consumed for the last time here.
        if last_use.get(index, -1) > index:
            waiting += 1
            if waiting == 1:
                dominating.append(calls[index])
    return dominating


# Grad-CAM's map is the last one at least this many pixels on a side (or the finest, if none is).
GRADCAM_MIN_SIZE = 7


def feature_map_calls(model, *, calls=None):
    """The model's computed feature maps, in graph order: the Grad-CAM candidates.

    These are the dominating calls (`dominating_calls`) with a rank-4 output,
    outside the classifier head (`is_head_layer`), computed by a convolution
    or by a layer after one that keeps the pixel grid (batch norm,
    activation, `Add`, `Concatenate`), not by pooling, padding or dropout.
    For a chain of convolutions that is every convolution; for a ResNet the
    stem and every block output; for GoogLeNet the stem and every inception
    module's concatenation.

    Returns:
        A list of `LayerCall`.
    """
    calls = layer_calls(model) if calls is None else calls
    after_convolution = _names_after_first_convolution(calls)
    return [
        call for call in _candidates(model, calls)
        if call.name in after_convolution
        and not isinstance(call.layer, POOLINGS + INFERENCE_IDENTITIES + PIXEL_MOVERS)
    ]


def feature_map_call(model, *, purpose="backbone", calls=None):
    """The call whose output is the model's last feature map.

    * `purpose="backbone"`: the last dominating rank-4 call outside the
      classifier head (see `dominating_calls`, `is_head_layer`), skipping
      trailing dropout. This is where a backbone is cut off its classifier:
      the output keras.applications gives with `include_top=False`
      (`block5_pool` for VGG, `conv5_block3_out` for ResNet-50).
    * `purpose="gradcam"`: the last of `feature_map_calls` whose map is at
      least `GRADCAM_MIN_SIZE` (7x7) where the size is known, else the one
      with the largest map (LeNet-5's `c5` is 1x1 at 32x32, so its Grad-CAM
      layer is `c3`; a VGG at 28x28 ends in 1x1 and 2x2 maps, too coarse to
      show anything). This is the rule of Selvaraju et al. 2017, the last
      convolutional layer, whose maps still hold the spatial layout that the
      classifier then pools away, kept to maps that hold one.

    Args:
        model: A functional model.
        purpose: `"backbone"` or `"gradcam"`.
        calls: Optional result of `layer_calls(model)`.

    Returns:
        A `LayerCall`.

    Raises:
        ValueError: If the model has no such feature map (e.g. it takes
            vectors), with what to pass instead.
    """
    if purpose not in ("backbone", "gradcam"):
        raise ValueError(f"purpose must be 'backbone' or 'gradcam'; received {purpose!r}.")
    calls = layer_calls(model) if calls is None else calls
    if purpose == "backbone":
        candidates = [call for call in _candidates(model, calls)
                      if not isinstance(call.layer, INFERENCE_IDENTITIES)]
    else:
        computed = feature_map_calls(model, calls=calls)
        fine = [call for call in computed
                if all(size is None or size >= GRADCAM_MIN_SIZE for size in spatial_size(call.output))]
        if fine or not computed:
            candidates = fine
        else:  # Every map is coarse: the finest, the last of them among equals.
            finest = max(min(size or 0 for size in spatial_size(call.output)) for call in computed)
            candidates = [call for call in computed if min(size or 0 for size in spatial_size(call.output)) == finest]
    if not candidates:
        raise ValueError(
            f"Found no feature map in {model.name!r}: no rank-4 tensor that every path to its "
            "main output goes through, outside the classifier. Pass the name of the layer to use "
            "(layer_name= / feature_layer=)."
        )
    return candidates[-1]


def _candidates(model, calls):
    return [
        call for call in dominating_calls(model, calls)
        if is_feature_map(call.output) and not is_head_layer(call.layer)
        and not isinstance(call.layer, keras.layers.InputLayer)
    ]


def _names_after_first_convolution(calls):
    """Names of the calls at or after the first convolution (in graph order)."""
    names, started = set(), False
    for call in calls:
        started = started or isinstance(call.layer, CONVOLUTIONS) or _holds_convolution(call.layer)
        if started:
            names.add(call.name)
    return names


def _holds_convolution(layer):
    """Whether a nested model contains a convolution."""
    return isinstance(layer, keras.Model) and any(
        isinstance(inner, CONVOLUTIONS) or _holds_convolution(inner) for inner in layer.layers
    )

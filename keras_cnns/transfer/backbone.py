"""A pretrained network, cut at its last feature map, with a new head; frozen or opened block by block.

* `load_source`: the pretrained network from a run directory, a `.keras`
  file, or a registered name with `weights="imagenet"`, with the input
  normalization it was trained with.
* `build_transfer_model`: the backbone (every layer up to the last feature
  map, `keras_cnns.inspect.graph.feature_map_call`), an input adapter, and a
  new head (`avg_pool`, `top_dropout`, `predictions`, as
  `keras_cnns.models.base.classifier` builds them).
* `find_blocks` and `set_trainable`: which layers form the top blocks, and
  freezing everything else.

Batch norm stays in inference mode: in Keras 3, `model.fit` calls every
layer with `training=True`, overriding the `training=False` of a nested
`base_model(x, training=False)` call (keras-team/keras#20285), but a
`BatchNormalization` layer whose `trainable` is False always normalizes with
its moving statistics and never updates them. So batch-norm layers of the
backbone are never made trainable, in either phase.
"""

import dataclasses
import os
import re

import keras
import numpy as np

from keras_cnns.inspect import graph
from keras_cnns.inspect.source import load_trained
from keras_cnns.models import base
from keras_cnns.registry import list_models, model_info

# The new head and the adapter: the layers that are not the backbone.
HEAD_LAYERS = ("avg_pool", "top_dropout", "predictions")
ADAPTER_LAYER = "input_adapter"
# keras.applications' "caffe" preprocessing of its VGG and ResNet weights:
# BGR channels minus the ImageNet mean pixel, no scaling. Written in this
# package's convention (RGB order, `(pixels / 255 - mean) / std`).
IMAGENET_CAFFE_NORMALIZATION = {
    "mean": [123.68 / 255.0, 116.779 / 255.0, 103.939 / 255.0],
    "std": [1.0 / 255.0] * 3,
}
# A block is the part of a layer name up to a block number (`conv5_block3`,
# `block5`, `block_16`, `block6a`), else its first word (`conv1`, `c3`,
# `inception4e`, `stage2`, `top`).
_BLOCK_NAME = re.compile(r"^(.*?block_?\d+[a-z]?)(?=_|$)")


@dataclasses.dataclass(frozen=True)
class Source:
    """A pretrained network ready to be cut.

    Attributes:
        model: The `keras.Model`.
        architecture: Its registered name (e.g. `"resnet20"`), or None.
        normalization: The input normalization it was trained with, or None
            (unknown: inputs are passed on unchanged).
        description: Where it came from, for messages and `metrics.json`.
    """

    model: object
    architecture: object
    normalization: object
    description: str


def load_source(source, *, image_shape=None):
    """Loads a pretrained network.

    Args:
        source: A run directory or `.keras` file (`keras_cnns.inspect.load_trained`),
            or the registered name of a network with published ImageNet
            weights (`vgg16`, `vgg19`, `resnet50`, `resnet101`, `resnet152`),
            loaded from the Keras cache or downloaded (see
            `keras_cnns.models.weights`).
        image_shape: For ImageNet networks: `(height, width, 3)` to build
            them at (their backbone takes any size of at least 32x32).

    Returns:
        A `Source`.

    Raises:
        ValueError: If `source` is neither a path nor a network with ImageNet
            weights, or `image_shape` does not suit it.
        FileNotFoundError: If a path holds no model.
        RuntimeError: If ImageNet weights are neither cached nor downloadable.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"source must be a run directory, a .keras file or a registered network name; "
            f"received {type(source).__name__}."
        )
    text = os.fspath(source)
    if os.path.exists(text):
        trained = load_trained(text)
        architecture = (trained.config or {}).get("model")
        if architecture is None and trained.model.name in list_models():
            architecture = trained.model.name
        return Source(model=trained.model, architecture=architecture,
                      normalization=trained.normalization, description=text)
    check_imagenet_name(text)
    return _imagenet_source(text, image_shape)


def check_imagenet_name(name):
    """Raises unless `name` is a registered network with published ImageNet weights.

    Raises:
        ValueError: For a registered network without ImageNet weights.
        FileNotFoundError: For a name that is neither registered nor a path.
    """
    with_weights = [model for model in list_models() if model_info(model).imagenet_weights]
    if name in with_weights:
        return
    if name in list_models():
        raise ValueError(
            f"{name!r} has no published ImageNet weights to start from; those that do are "
            f"{with_weights}. Train {name} first (`keras-cnns train {name}`) and fine-tune from its "
            "run directory."
        )
    raise FileNotFoundError(
        f"No run directory or .keras file at {name!r}, and it is not a registered network name. "
        f"Pass a run directory written by `keras-cnns train`, a .keras file, or one of {with_weights} "
        "for ImageNet weights."
    )


def _imagenet_source(name, image_shape):
    if image_shape is None:
        image_shape = (224, 224, 3)
    if len(image_shape) != 3 or image_shape[-1] != 3:
        raise ValueError(
            f"ImageNet weights take RGB images; received image_shape={tuple(image_shape)}. "
            "Load the data with channels=3 (grayscale is repeated into RGB)."
        )
    model = model_info(name).builder(include_top=False, weights="imagenet",
                                     input_shape=tuple(image_shape))
    # The published kernels expect BGR; reversing their input channels makes
    # the network take RGB, the order of this package's pipelines.
    first = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    kernel, *rest = first.get_weights()
    first.set_weights([kernel[:, :, ::-1, :], *rest])
    return Source(model=model, architecture=name, normalization=IMAGENET_CAFFE_NORMALIZATION,
                  description=f"{name} (ImageNet weights)")


def input_adapter(source_normalization, target_normalization):
    """A `Rescaling` layer from the target data's normalization to the source network's, or None.

    Images normalized as `(p / 255 - m_t) / s_t` become `(p / 255 - m_s) /
    s_s`: scale `s_t / s_s`, offset `(m_t - m_s) / s_s`, per channel. None
    when either is unknown or they agree.
    """
    if source_normalization is None or target_normalization is None:
        return None
    mean_s, std_s = (np.asarray(source_normalization[key], np.float64) for key in ("mean", "std"))
    mean_t, std_t = (np.asarray(target_normalization[key], np.float64) for key in ("mean", "std"))
    if mean_s.shape != mean_t.shape:
        raise ValueError(
            f"The pretrained network takes {len(mean_s)} channel(s) but the new data has "
            f"{len(mean_t)}. Load the data with channels={len(mean_s)}."
        )
    scale, offset = std_t / std_s, (mean_t - mean_s) / std_s
    if np.allclose(scale, 1.0) and np.allclose(offset, 0.0):
        return None
    return keras.layers.Rescaling(scale=scale.astype(np.float32).tolist(),
                                  offset=offset.astype(np.float32).tolist(), name=ADAPTER_LAYER)


def build_transfer_model(source, classes, *, target_normalization=None, dropout=0.2,
                         feature_layer=None):
    """The source's backbone with a new classifier head.

    The backbone is copied (new layers holding the source's weights), from
    the input to `feature_layer` (default: the last feature map before the
    old classifier; see `keras_cnns.inspect.graph.feature_map_call`), so
    auxiliary heads and the old classifier are left behind. An
    `input_adapter` (`Rescaling`) is put in front when the new data is
    normalized differently from the source's training data. The head is
    global average pooling (`avg_pool`), dropout (`top_dropout`) and a
    softmax `Dense` (`predictions`).

    Args:
        source: A `Source`.
        classes: Number of new classes.
        target_normalization: The new data's normalization.
        dropout: Dropout rate of the head.
        feature_layer: Name of the layer to cut after, or None.

    Returns:
        A `keras.Model` named like the source.

    Raises:
        ValueError: If `feature_layer` is not a feature map every path to the
            output goes through, or `classes` is invalid.
    """
    if not isinstance(classes, (int, np.integer)) or isinstance(classes, bool) or classes < 2:
        raise ValueError(f"classes must be an int of at least 2; received {classes!r}.")
    model = graph.as_functional(source.model)
    if len(model.inputs) != 1:
        raise ValueError(f"{model.name!r} has {len(model.inputs)} inputs; fine-tuning takes one image input.")
    calls = graph.layer_calls(model)
    cut = _cut_call(model, feature_layer, calls)
    backbone = keras.Model(model.inputs[0], cut.output, name=f"{model.name}_backbone")
    adapter = input_adapter(source.normalization, target_normalization)
    copied = keras.models.clone_model(backbone, call_function=_adapting_call(adapter))
    for layer in copied.layers:
        if layer.weights and layer.name != ADAPTER_LAYER:
            layer.set_weights(backbone.get_layer(layer.name).get_weights())
    outputs = base.classifier(
        copied.output, include_top=True, head="dense", pooling=None, classes=int(classes),
        classifier_activation="softmax", dropout_rate=dropout, flatten=False,
    )
    return keras.Model(copied.inputs[0], outputs, name=model.name)


def _cut_call(model, feature_layer, calls):
    if feature_layer is None:
        return graph.feature_map_call(model, purpose="backbone", calls=calls)
    call = graph.find_call(model, feature_layer, calls)
    if not graph.is_feature_map(call.output) or call.name not in {
        c.name for c in graph.dominating_calls(model, calls)
    }:
        raise ValueError(
            f"feature_layer={feature_layer!r} must output feature maps that every path to the "
            "output goes through (e.g. a block's output, not a branch inside it). Default: "
            f"{graph.feature_map_call(model, purpose='backbone', calls=calls).name!r}."
        )
    return call


def _adapting_call(adapter):
    """A `clone_model` call function that passes the model input through `adapter` first."""
    adapted = {}

    def call(layer, *args, **kwargs):
        if adapter is not None:
            args = keras.tree.map_structure(lambda t: _adapt(t, adapter, adapted), args)
        return layer(*args, **kwargs)

    return call


def _adapt(tensor, adapter, adapted):
    history = getattr(tensor, "_keras_history", None)
    if history is None or not isinstance(history.operation, keras.layers.InputLayer):
        return tensor
    if id(tensor) not in adapted:
        adapted[id(tensor)] = adapter(tensor)
    return adapted[id(tensor)]


def block_name(layer_name):
    """The block a layer belongs to, by its name.

    Rules, in order: the name up to a block number (`conv5_block3_2_conv` ->
    `conv5_block3` for ResNet; `block5_conv3` -> `block5` for VGG and NiN;
    `block_16_expand` -> `block_16`, `block6a_se` -> `block6a` for
    keras.applications' MobileNet and EfficientNet); else its first word
    (`inception4e_3x3_conv` -> `inception4e` for GoogLeNet, `stage2_conv1`
    -> `stage2` and `top_conv1` -> `top` for All-CNN, `conv5_conv` ->
    `conv5` for AlexNet, `c5_conv` -> `c5` for LeNet-5).
    """
    match = _BLOCK_NAME.match(layer_name)
    return match.group(1) if match else layer_name.split("_")[0]


def find_blocks(model):
    """The backbone's blocks in graph order: `[(block name, [layers])]`.

    Only blocks with weights are listed; the input, the adapter and the new
    head are not part of any block.
    """
    blocks = {}
    for call in graph.layer_calls(model):
        layer = call.layer
        if (isinstance(layer, keras.layers.InputLayer) or layer.name in HEAD_LAYERS
                or layer.name == ADAPTER_LAYER):
            continue
        blocks.setdefault(block_name(layer.name), []).append(layer)
    return [(name, layers) for name, layers in blocks.items() if any(l.weights for l in layers)]


def set_trainable(model, unfreeze_blocks=0):
    """Freezes the backbone except its top blocks; the head stays trainable.

    Batch-norm layers stay frozen everywhere (see the module docstring), so
    they keep normalizing with their moving statistics.

    Args:
        model: A model from `build_transfer_model`.
        unfreeze_blocks: How many blocks, counted from the top, to train
            (0: the head alone), or a list of block names.

    Returns:
        The names of the blocks made trainable.

    Raises:
        ValueError: If `unfreeze_blocks` is negative, larger than the number
            of blocks, or names a block the model does not have.
    """
    blocks = find_blocks(model)
    names = [name for name, _ in blocks]
    if isinstance(unfreeze_blocks, (list, tuple)):
        unknown = [name for name in unfreeze_blocks if name not in names]
        if unknown:
            raise ValueError(f"No block named {unknown} in {model.name!r}; its blocks are {names}.")
        chosen = list(unfreeze_blocks)
    elif isinstance(unfreeze_blocks, (int, np.integer)) and not isinstance(unfreeze_blocks, bool) \
            and 0 <= unfreeze_blocks <= len(blocks):
        chosen = names[len(names) - int(unfreeze_blocks):] if unfreeze_blocks else []
    else:
        raise ValueError(
            f"unfreeze_blocks must be an int in [0, {len(blocks)}] or a list of block names; "
            f"received {unfreeze_blocks!r}. The blocks of {model.name!r}, bottom to top: {names}."
        )
    model.trainable = True
    open_layers = {id(layer) for name, layers in blocks if name in chosen for layer in layers}
    for layer in model.layers:
        if layer.name in HEAD_LAYERS:
            layer.trainable = True
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
        else:
            layer.trainable = id(layer) in open_layers
    return chosen

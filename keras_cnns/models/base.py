"""One skeleton for every network: the keras.applications signature around a family's features.

A family (`keras_cnns.models.resnet`, `vgg`, ...) describes its network as a
`Backbone`: its architecture as data, its own knobs, the layers of its
feature extractor (`features`), the smallest input those layers leave
something of (`min_input_size`, computed from the architecture and the knobs
actually passed) and the classifier it wants on top (`top`). `build_network`
does the rest, once for every family, as keras.applications' builders do:
check the arguments, settle the input shape, make the inputs, put the head on
(dense or fully convolutional, or the pooled features), name the model and
load the weights. Layer names are the families' (keras.applications' grammar
where the weights must load).

The arguments `build_network` takes, the same for every network:

    include_top: Whether to include the classifier (True).
    weights: None (random initialization), "imagenet" (the files
        keras.applications publishes, where `models.weights.IMAGENET_FILES`
        lists one and the network has the paper's form), or the path of a
        weights file (.weights.h5 or .h5).
    input_tensor: Optional Keras tensor to use as the input.
    input_shape: (height, width, channels) in the current data format;
        default: the family's (e.g. (224, 224, 3)). None for height and width
        takes any size with head="conv".
    pooling: With include_top=False: None (the 4D feature map), "avg" or
        "max" (pooled features, layers ``avg_pool`` / ``max_pool``). With
        head="conv": None keeps a map of class scores, "avg"/"max" pool it.
    classes: Number of classes (default: the family's).
    classifier_activation: Activation of ``predictions`` ("softmax"; None
        gives logits).
    name: The model's name; default: the registered variant's.
    head: "dense" (the paper's classifier) or "conv" (the same layers as 1x1
        convolutions: the network then takes any input size).
    dropout: Dropout in the classifier (in the features for NiN and
        All-CNN-C, as the papers place it); default: the paper's.
"""

import difflib
import inspect
import os

import keras
from keras import layers

from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS, channel_axis, conv_bn_act
from keras_cnns.layers import MinimumSize
from keras_cnns.validation import check_choice
from keras_cnns.models import weights as weights_lib

POOLING_KINDS = (None, "avg", "max")
HEAD_KINDS = ("dense", "conv")
# Sentinel of `build_network`'s arguments whose default is the family's.
FAMILY_DEFAULT = object()


class Backbone:
    """A family's network without its classifier: architecture, knobs, features.

    Subclasses set the class attributes and implement `features`; their
    constructor takes the architecture and the family's own knobs, checks
    them (a `ValueError` naming the knob, what was received and what to do)
    and keeps them.

    Attributes:
        family: Registry family name.
        paper: Citation of the paper.
        year: Publication year.
        default_input_shape: `(height, width, channels)` by default.
        default_classes: Classes by default.
        default_pooling: `pooling` by default (NiN and All-CNN-C: "avg").
        default_head: `head` by default.
        default_dropout: `dropout` by default (the paper's).
    """

    family = None
    paper = None
    year = None
    default_input_shape = (224, 224, 3)
    default_classes = 1000
    default_pooling = None
    default_head = "dense"
    default_dropout = 0.0
    # Whether the classifier goes on top (build_network sets it before asking for the minimum size).
    with_top = True

    def min_input_size(self):
        """The smallest height and width the features leave at least one pixel of."""
        raise NotImplementedError

    def features(self, x, dropout):
        """Adds the feature extractor's layers to `x`; returns the last feature map.

        May return `(features, extra_outputs)` for networks with auxiliary
        classifiers (GoogLeNet), which need `classes` and the activation:
        they are set on `self.top_classes` / `self.top_activation` first.
        """
        raise NotImplementedError

    def top(self, dropout):
        """Keyword arguments of `classifier` for this family's head: hidden units, flatten, activation."""
        return {"dropout_rate": dropout, "flatten": False}

    def imagenet_form(self):
        """Whether the knobs leave the paper's network, whose published weights then fit."""
        return False


def scaled(filters, width_multiplier):
    """`filters` times `width_multiplier`, rounded, at least 1."""
    return max(1, int(round(filters * width_multiplier)))


def check_width_multiplier(width_multiplier):
    """Raises unless `width_multiplier` is a positive number."""
    if (not isinstance(width_multiplier, (int, float)) or isinstance(width_multiplier, bool)
            or not width_multiplier > 0):
        raise ValueError(
            f"width_multiplier must be a positive number (1.0: the paper's widths, 0.5: half); received "
            f"width_multiplier={width_multiplier!r}."
        )
    return float(width_multiplier)


def set_plain_knobs(backbone, *, batch_norm, width_multiplier, downsampling):
    """Checks and sets the knobs the plain convolutional families share on `backbone`."""
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    backbone.batch_norm = batch_norm
    backbone.width_multiplier = check_width_multiplier(width_multiplier)
    backbone.downsampling = downsampling


# build_network's own arguments; the rest of a builder's keywords are the family's knobs.
NETWORK_ARGUMENTS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                     "classifier_activation", "name", "head", "dropout")


def build(make_backbone, variant, kwargs):
    """`build_network(make_backbone(**knobs), **network arguments)` from one dict of keywords.

    Raises:
        ValueError: For a keyword that is neither a network argument nor one
            of the family's knobs, naming it, the closest valid one and the
            knobs the family takes.
    """
    knobs = {key: value for key, value in kwargs.items() if key not in NETWORK_ARGUMENTS}
    check_knobs(make_backbone, knobs, variant)
    arguments = {key: value for key, value in kwargs.items() if key in NETWORK_ARGUMENTS}
    return build_network(make_backbone(**knobs), variant=variant, **arguments)


def knob_names(make_backbone):
    """The keyword arguments a backbone factory takes (the family's knobs)."""
    return [name for name, parameter in inspect.signature(make_backbone).parameters.items()
            if parameter.kind == parameter.KEYWORD_ONLY]


def check_knobs(make_backbone, knobs, variant):
    """Raises for a keyword `make_backbone` does not take, with the closest name and the list of knobs."""
    valid = knob_names(make_backbone)
    for key in knobs:
        if key not in valid:
            close = difflib.get_close_matches(key, [*valid, *NETWORK_ARGUMENTS], n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{variant} takes no argument {key!r}.{hint} Its own knobs are {', '.join(valid)}; every "
                f"network also takes {', '.join(NETWORK_ARGUMENTS)}."
            )


def build_network(backbone, *, include_top=True, weights=None, input_tensor=None, input_shape=None,
                  pooling=FAMILY_DEFAULT, classes=FAMILY_DEFAULT, classifier_activation="softmax", name=None,
                  head=FAMILY_DEFAULT, dropout=FAMILY_DEFAULT, variant=None):
    """Builds a network from its `Backbone`; the arguments are described in this module's docstring.

    Args:
        backbone: The family's `Backbone`.
        variant: The registered name (messages, default model name, ImageNet weights).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: For an argument that does not fit, before any layer is
            built: an unknown pooling or head, fewer than 2 classes with
            softmax, weights that cannot apply, an input shape of the wrong
            rank or below the minimum size.
    """
    variant = variant or backbone.family
    pooling = backbone.default_pooling if pooling is FAMILY_DEFAULT else pooling
    classes = backbone.default_classes if classes is FAMILY_DEFAULT else classes
    head = backbone.default_head if head is FAMILY_DEFAULT else head
    dropout = backbone.default_dropout if dropout is FAMILY_DEFAULT else dropout
    check_dropout(dropout)
    backbone.with_top = include_top
    imagenet_ready = variant in weights_lib.IMAGENET_FILES and backbone.imagenet_form()
    check_common_arguments(variant, weights=weights, include_top=include_top, classes=classes,
                           classifier_activation=classifier_activation, pooling=pooling, head=head,
                           imagenet_weights=imagenet_ready)
    input_shape = resolve_input_shape(
        variant, input_shape=input_shape, input_tensor=input_tensor, default_shape=backbone.default_input_shape,
        min_size=backbone.min_input_size(), include_top=include_top, head=head, weights=weights,
    )
    x, inputs = model_inputs(input_shape, input_tensor)
    min_size = backbone.min_input_size()
    # A network for any size checks each image's size when called, instead of failing deep inside.
    if min_size > 1 and None in split_shape(input_shape)[:2]:
        x = MinimumSize(min_size, network=variant, name="minimum_size")(x)
    backbone.top_classes, backbone.top_activation = classes, classifier_activation
    features = backbone.features(x, dropout)
    x, extra_outputs = features if isinstance(features, tuple) else (features, [])
    x = classifier(x, include_top=include_top, head=head, pooling=pooling, classes=classes,
                   classifier_activation=classifier_activation, **backbone.top(dropout))
    outputs = [x, *extra_outputs] if include_top and extra_outputs else x
    model = keras.Model(inputs, outputs, name=name or variant)
    if weights == "imagenet":
        weights_lib.load_imagenet_weights(model, variant, include_top=include_top)
    elif weights is not None:
        weights_lib.load_weights_file(model, weights)
    return model


def check_dropout(rate, argument="dropout"):
    """Raises unless `rate` is in [0, 1)."""
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
        raise ValueError(f"{argument} must be in [0, 1); received {rate!r}. Use 0 to disable it.")


def check_common_arguments(model_name, *, weights, include_top, classes, classifier_activation, pooling, head,
                           imagenet_weights=False):
    """Checks the keras.applications arguments every builder takes.

    Raises:
        ValueError: On an unknown pooling or head, fewer than 2 classes with
            softmax, or `weights` that cannot apply to this configuration.
    """
    check_choice("pooling", pooling, POOLING_KINDS)
    check_choice("head", head, HEAD_KINDS)
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(f"classes must be a positive integer; received classes={classes!r}.")
    if include_top and classes < 2 and classifier_activation == "softmax":
        raise ValueError(
            f"A softmax over classes={classes} always outputs 1.0. For a binary "
            "problem use classes=1 with classifier_activation='sigmoid', or classes=2 with softmax."
        )
    if weights is None:
        return
    if weights == "imagenet":
        if not imagenet_weights:
            published = ", ".join(sorted(weights_lib.IMAGENET_FILES))
            raise ValueError(
                f"No ImageNet weights are published for {model_name!r} in this form. keras.applications "
                f"publishes them for {published}, in the papers' configurations. Use weights=None (random "
                "initialization) or the path of a weights file."
            )
        if include_top and classes != 1000:
            raise ValueError(
                f"weights='imagenet' with include_top=True needs classes=1000 (the ImageNet "
                f"classifier); received classes={classes}. Pass include_top=False and add "
                "your own classifier, or keep classes=1000."
            )
        if include_top and head != "dense":
            raise ValueError(
                f"weights='imagenet' with include_top=True needs head='dense' (the published "
                f"classifier is dense); received head={head!r}. Pass include_top=False to put "
                "a fully-convolutional head of your own on the ImageNet backbone."
            )
        return
    if not isinstance(weights, (str, os.PathLike)) or not os.path.exists(weights):
        raise ValueError(
            "weights must be None, 'imagenet' or the path of an existing weights file "
            f"(.weights.h5 or .h5); received weights={weights!r}."
        )


def split_shape(input_shape):
    """`(height, width, channels)` of a shape in the current data format."""
    if channel_axis() == 1:
        channels, height, width = input_shape
    else:
        height, width, channels = input_shape
    return height, width, channels


def resolve_input_shape(model_name, *, input_shape, input_tensor, default_shape, min_size, include_top, head,
                        weights=None):
    """Settles the input shape and checks it against the network's needs.

    Returns:
        The input shape as a tuple in the current data format.

    Raises:
        ValueError: On a shape of the wrong rank, a size below `min_size`, an
            unknown size where a dense classifier needs a fixed one, or a
            channel count the ImageNet weights cannot take.
    """
    if input_shape is None and input_tensor is not None:
        input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        input_shape = default_shape
        if channel_axis() == 1:
            input_shape = (default_shape[2], default_shape[0], default_shape[1])
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            f"{model_name} takes images of rank 3, (height, width, channels); received "
            f"input_shape={input_shape!r}. Leave out the batch dimension."
        )
    input_shape = tuple(input_shape)
    if not all(size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)
               for size in input_shape):
        raise ValueError(
            f"{model_name}'s input_shape must hold positive ints (or None for a free height and width); "
            f"received input_shape={input_shape!r}."
        )
    height, width, channels = split_shape(input_shape)
    if channels is None:
        raise ValueError(f"{model_name} needs a known channel count; received input_shape={input_shape}.")
    for size in (height, width):
        if size is not None and size < min_size:
            raise ValueError(
                f"{model_name} needs inputs of at least {min_size}x{min_size}: its downsampling "
                f"leaves nothing of smaller images. Received input_shape={input_shape}. Resize or "
                f"pad the images to {min_size}x{min_size} or more, or choose a network with less "
                "downsampling (keras_cnns.list_models() and model_info(name).min_input_size)."
            )
    if include_top and head == "dense" and (height is None or width is None):
        raise ValueError(
            f"{model_name}'s dense classifier needs a fixed input size; received "
            f"input_shape={input_shape}. Give the height and width, or pass head='conv' "
            "(a fully-convolutional classifier that accepts any size)."
        )
    if weights == "imagenet":
        if channels != 3:
            raise ValueError(
                f"The ImageNet weights of {model_name} expect 3 input channels; received "
                f"input_shape={input_shape}. Convert grayscale images to RGB (repeat the "
                "channel) or use weights=None."
            )
        if include_top and (height, width) != (224, 224):
            raise ValueError(
                f"The ImageNet classifier of {model_name} takes 224x224 images; received "
                f"input_shape={input_shape}. Resize to that size, or pass include_top=False to use the "
                "backbone at any size."
            )
    return input_shape


def model_inputs(input_shape, input_tensor):
    """The tensor the network starts from, and the model's inputs.

    Like keras.applications: a symbolic `input_tensor` is used as is and the
    model's inputs are its source inputs; anything else gets a new `Input`.
    """
    if input_tensor is None:
        x = layers.Input(shape=input_shape)
        return x, x
    if not keras.backend.is_keras_tensor(input_tensor):
        x = layers.Input(tensor=input_tensor, shape=input_shape)
        return x, x
    return input_tensor, keras.utils.get_source_inputs(input_tensor)


def dropout_layer(x, rate, *, name):
    """`Dropout(rate)`, or nothing when `rate` is 0."""
    check_dropout(rate)
    return layers.Dropout(rate, name=name)(x) if rate else x


def classifier(x, *, include_top, head, pooling, classes, classifier_activation, hidden_units=(),
               hidden_activation="relu", dropout_rate=0.0, flatten=True):
    """The top of a network: a classifier, or the pooled features.

    With `include_top=False`, `pooling` gives the features: None keeps the
    4D map, `"avg"` / `"max"` pool it globally (layers ``avg_pool`` /
    ``max_pool``, as in keras.applications).

    With `include_top=True` and `head="dense"`: ``flatten`` (or global average
    pooling ``avg_pool`` when `flatten` is False), hidden `Dense` layers
    ``fc1``, ``fc2``, ... each followed by dropout, and ``predictions``.

    With `include_top=True` and `head="conv"`: the same layers as 1x1
    convolutions (``fc1_conv``, ..., ``predictions_conv``), so the network
    accepts any input size. `pooling` then decides the output: None keeps a
    map of class scores (softmax per position), `"avg"` / `"max"` pool the
    scores globally into one vector per image. The activation is the layer
    ``predictions``.
    """
    if not include_top:
        if pooling == "avg":
            return layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if pooling == "max":
            return layers.GlobalMaxPooling2D(name="max_pool")(x)
        return x

    if head == "dense":
        if flatten:
            x = layers.Flatten(name="flatten")(x)
        else:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        for i, units in enumerate(hidden_units, start=1):
            x = layers.Dense(units, activation=hidden_activation, name=f"fc{i}")(x)
            x = dropout_layer(x, dropout_rate, name=f"fc{i}_dropout")
        if not hidden_units:
            x = dropout_layer(x, dropout_rate, name="top_dropout")
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)

    for i, units in enumerate(hidden_units, start=1):
        x = conv_bn_act(x, units, 1, batch_norm=False, activation=hidden_activation, name=f"fc{i}")
        x = dropout_layer(x, dropout_rate, name=f"fc{i}_dropout")
    if not hidden_units:
        x = dropout_layer(x, dropout_rate, name="top_dropout")
    x = layers.Conv2D(classes, 1, name="predictions_conv")(x)
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    if classifier_activation == "softmax":
        return layers.Softmax(axis=-1 if pooling else channel_axis(), name="predictions")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)

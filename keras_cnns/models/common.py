"""What every builder shares: argument checks, inputs, classifier heads, weights.

Each check runs before any layer is built and raises a `ValueError` that says
what was wrong, what was received and what to do.
"""

import math
import os

import keras
from keras import layers

from keras_cnns.blocks.conv import channel_axis, check_choice, conv_bn_act
from keras_cnns.models import weights as weights_lib

POOLING_KINDS = (None, "avg", "max")
HEAD_KINDS = ("dense", "conv")


def scaled(filters, width_multiplier):
    """`filters` times `width_multiplier`, rounded, at least 1."""
    return max(1, int(round(filters * width_multiplier)))


def conv_output_size(size, kernel, stride, padding):
    """Output size of a convolution or pooling: (W - K + 2P) / S + 1, floored.

    `padding` is `"same"` (output ceil(W / S)), `"valid"` or an int P.
    """
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    pad = 0 if padding == "valid" else padding
    return (size - kernel + 2 * pad) // stride + 1


def smallest_input_size(output_size, limit=4096):
    """The smallest input size for which `output_size(size)` is at least 1.

    `output_size` follows one spatial dimension through the network's
    convolutions and poolings, with `conv_output_size`.
    """
    for size in range(1, limit):
        if output_size(size) >= 1:
            return size
    raise ValueError(f"No input size up to {limit} fits this network.")


def split_shape(input_shape):
    """`(height, width, channels)` of a shape in the current data format."""
    if channel_axis() == 1:
        channels, height, width = input_shape
    else:
        height, width, channels = input_shape
    return height, width, channels


def check_common_arguments(
    model_name,
    *,
    weights,
    include_top,
    classes,
    classifier_activation,
    pooling,
    head,
    imagenet_weights=False,
):
    """Checks the keras.applications arguments every builder takes.

    Raises:
        ValueError: On an unknown pooling or head, fewer than 2 classes with
            softmax, or `weights` that cannot apply to this configuration.
    """
    check_choice("pooling", pooling, POOLING_KINDS)
    check_choice("head", head, HEAD_KINDS)
    if not isinstance(classes, int) or classes < 1:
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
            raise ValueError(
                f"No ImageNet weights are published for {model_name!r}. keras.applications "
                "publishes them for vgg16, vgg19, resnet50, resnet101 and resnet152. "
                "Use weights=None (random initialization) or the path of a weights file."
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


def resolve_input_shape(
    model_name,
    *,
    input_shape,
    input_tensor,
    default_shape,
    min_size,
    include_top,
    head,
    weights=None,
    imagenet_size=None,
):
    """Settles the input shape and checks it against the network's needs.

    Args:
        model_name: Name used in error messages.
        input_shape: What the user passed, or None.
        input_tensor: What the user passed, or None.
        default_shape: ``(H, W, C)`` used when neither is given.
        min_size: Smallest height and width the network's downsampling allows.
        include_top: Whether the classifier is included.
        head: `"dense"` or `"conv"`.
        weights: The `weights` argument (ImageNet weights need 3 channels).
        imagenet_size: If set, the only size the ImageNet classifier accepts.

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
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            f"{model_name} takes images of rank 3, (height, width, channels); received "
            f"input_shape={input_shape}. Leave out the batch dimension."
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
        if include_top and imagenet_size and (height, width) != (imagenet_size, imagenet_size):
            raise ValueError(
                f"The ImageNet classifier of {model_name} takes {imagenet_size}x{imagenet_size} "
                f"images; received input_shape={input_shape}. Resize to that size, or pass "
                "include_top=False to use the backbone at any size."
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


def dropout(x, rate, *, name):
    """`Dropout(rate)`, or nothing when `rate` is 0."""
    if not 0 <= rate < 1:
        raise ValueError(f"dropout must be in [0, 1); received {rate!r}. Use 0 to disable it.")
    return layers.Dropout(rate, name=name)(x) if rate else x


def classifier(
    x,
    *,
    include_top,
    head,
    pooling,
    classes,
    classifier_activation,
    hidden_units=(),
    hidden_activation="relu",
    dropout_rate=0.0,
    flatten=True,
):
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
            x = dropout(x, dropout_rate, name=f"fc{i}_dropout")
        if not hidden_units:
            x = dropout(x, dropout_rate, name="top_dropout")
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)

    for i, units in enumerate(hidden_units, start=1):
        x = conv_bn_act(x, units, 1, batch_norm=False, activation=hidden_activation, name=f"fc{i}")
        x = dropout(x, dropout_rate, name=f"fc{i}_dropout")
    if not hidden_units:
        x = dropout(x, dropout_rate, name="top_dropout")
    x = layers.Conv2D(classes, 1, name="predictions_conv")(x)
    if pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    if classifier_activation == "softmax":
        return layers.Softmax(axis=-1 if pooling else channel_axis(), name="predictions")(x)
    return layers.Activation(classifier_activation, name="predictions")(x)


def finish_model(inputs, outputs, *, name, weights, model_name, include_top):
    """Creates the `keras.Model` and loads `weights` into it."""
    model = keras.Model(inputs, outputs, name=name)
    if weights == "imagenet":
        weights_lib.load_imagenet_weights(model, model_name, include_top=include_top)
    elif weights is not None:
        weights_lib.load_weights_file(model, weights)
    return model

"""VGG: Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for
Large-Scale Image Recognition" (https://arxiv.org/abs/1409.1556).

The paper describes its networks as a table of configurations (A to E); so
does this module. VGG16 and VGG19 reproduce keras.applications' layer names
and parameter counts (138,357,544 and 143,667,240), so its weights load.
"""

from keras_cnns.blocks import conv_bn_act, downsample, spatial_dropout
from keras_cnns.blocks.conv import check_choice, DOWNSAMPLING_KINDS
from keras_cnns.models import common
from keras_cnns.registry import register_model

# Table 1 of the paper: channels of each 3x3 convolution, block by block; each
# block ends in a 2x2 max pooling. Configuration A is VGG11, B VGG13, D VGG16,
# E VGG19 (C, with 1x1 convolutions, is left out as keras.applications does).
CONFIGURATIONS = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "E": ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}
PAPER_HIDDEN_UNITS = 4096  # fc1 and fc2 of the paper.
PAPER = "Simonyan & Zisserman 2014, Very Deep Convolutional Networks for Large-Scale Image Recognition"


def build_vgg(
    configuration,
    *,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
    batch_norm=False,
    width_multiplier=1.0,
    dropout=0.5,
    spatial_dropout_rate=0.0,
    downsampling="max_pool",
    pool_padding="valid",
    head="dense",
    hidden_units=None,
    variant=None,
):
    """Builds a VGG network from a configuration of the paper's table.

    Args:
        configuration: A key of `CONFIGURATIONS` (`"A"`, `"B"`, `"D"`, `"E"`)
            or a sequence of blocks, each a sequence of channel counts.
        include_top: Whether to include the classifier (``flatten``, ``fc1``,
            ``fc2``, ``predictions``).
        weights: None, `"imagenet"` (VGG16/19 in the paper's configuration) or
            the path of a weights file.
        input_tensor: Optional tensor to use as the input.
        input_shape: ``(height, width, channels)``; default ``(224, 224, 3)``.
            At least 32x32: five poolings halve the size.
        pooling: With `include_top=False`: None, `"avg"` or `"max"`. With the
            conv head: None keeps a map of class scores.
        classes: Number of classes.
        classifier_activation: Activation of ``predictions``.
        name: Model name; defaults to the variant's.
        batch_norm: Batch norm after every convolution (the `_bn` variants).
        width_multiplier: Scales every layer's width.
        dropout: Dropout after ``fc1`` and ``fc2`` (the paper uses 0.5;
            keras.applications has none: pass 0 for its exact layer list).
        spatial_dropout_rate: Spatial dropout after each block's downsampling.
        downsampling: `"max_pool"` (the paper), `"avg_pool"` or `"strided_conv"`.
        pool_padding: Padding of the poolings (or of the strided convolutions
            that replace them): `"valid"` (the paper and
            keras.applications; five poolings need at least 32x32) or
            `"same"`, which rounds odd sizes up instead of dropping the last
            row and column, so 28x28 images go through all five blocks
            (28, 14, 7, 4, 2, 1) without being resized to 32x32; at least
            16x16. Both give the same result where every size is even (e.g.
            224x224 or 32x32).
        head: `"dense"` (the paper) or `"conv"` (fully convolutional).
        hidden_units: Widths of the hidden classifier layers (``fc1``,
            ``fc2``, ...). Default None: the paper's two layers of 4096,
            scaled by `width_multiplier`. An empty sequence leaves only
            ``predictions``; small images need far less than 4096 (e.g.
            `(256,)` at 28x28).
        variant: Registered name, for messages and ImageNet weights.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: On an unknown configuration or downsampling, a bad
            `hidden_units`, or the arguments every builder checks.

    Example:

    ```python
    small = build_vgg([(32, 32), (64, 64), (128,)], batch_norm=True,
                      hidden_units=(256,), input_shape=(28, 28, 1), classes=10)
    ```
    """
    variant = variant or "vgg"
    blocks = CONFIGURATIONS[configuration] if isinstance(configuration, str) else configuration
    check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
    check_choice("pool_padding", pool_padding, ("valid", "same"))
    hidden_units = _check_hidden_units(hidden_units, width_multiplier)
    paper_form = (not batch_norm and width_multiplier == 1 and downsampling == "max_pool"
                  and hidden_units == (4096, 4096))
    common.check_common_arguments(
        variant, weights=weights, include_top=include_top, classes=classes,
        classifier_activation=classifier_activation, pooling=pooling, head=head,
        imagenet_weights=paper_form and variant in ("vgg16", "vgg19"),
    )
    input_shape = common.resolve_input_shape(
        variant, input_shape=input_shape, input_tensor=input_tensor,
        default_shape=(224, 224, 3),
        min_size=2 ** len(blocks) if pool_padding == "valid" else 2 ** (len(blocks) - 1),
        include_top=include_top,
        head=head, weights=weights, imagenet_size=224,
    )
    x, inputs = common.model_inputs(input_shape, input_tensor)
    for b, widths in enumerate(blocks, start=1):
        for c, width in enumerate(widths, start=1):
            x = conv_bn_act(
                x, common.scaled(width, width_multiplier), 3, batch_norm=batch_norm,
                name=f"block{b}_conv{c}", conv_name=f"block{b}_conv{c}",
            )
        x = downsample(x, downsampling, padding=pool_padding, batch_norm=batch_norm, name=f"block{b}_pool")
        x = spatial_dropout(x, spatial_dropout_rate, name=f"block{b}_dropout")
    x = common.classifier(
        x, include_top=include_top, head=head, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation, hidden_units=hidden_units, dropout_rate=dropout,
    )
    return common.finish_model(inputs, x, name=name or variant, weights=weights, model_name=variant,
                               include_top=include_top)


def _check_hidden_units(hidden_units, width_multiplier):
    """The hidden classifier widths: the paper's by default, else as given."""
    if hidden_units is None:
        fc = common.scaled(PAPER_HIDDEN_UNITS, width_multiplier)
        return (fc, fc)
    units = tuple(hidden_units) if isinstance(hidden_units, (list, tuple)) else None
    if units is None or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        raise ValueError(
            "hidden_units must be a sequence of positive ints (the widths of fc1, fc2, ...); "
            f"received hidden_units={hidden_units!r}. Pass for example (256,), () for no hidden "
            "layer, or None for the paper's (4096, 4096)."
        )
    return units


_SPEC = dict(family="vgg", paper=PAPER, year=2014, default_input_shape=(224, 224, 3), min_input_size=32,
             default_classes=1000)


@register_model(**_SPEC, num_params=132_863_336)
def vgg11(**kwargs):
    """VGG11 (configuration A). Takes `build_vgg`'s keyword arguments."""
    return build_vgg("A", variant="vgg11", **kwargs)


@register_model(**_SPEC, num_params=133_047_848)
def vgg13(**kwargs):
    """VGG13 (configuration B). Takes `build_vgg`'s keyword arguments."""
    return build_vgg("B", variant="vgg13", **kwargs)


@register_model(**_SPEC, num_params=138_357_544, imagenet_weights=True)
def vgg16(**kwargs):
    """VGG16 (configuration D), weight-compatible with keras.applications.VGG16."""
    return build_vgg("D", variant="vgg16", **kwargs)


@register_model(**_SPEC, num_params=143_667_240, imagenet_weights=True)
def vgg19(**kwargs):
    """VGG19 (configuration E), weight-compatible with keras.applications.VGG19."""
    return build_vgg("E", variant="vgg19", **kwargs)


@register_model(**_SPEC, num_params=132_871_592)
def vgg11_bn(**kwargs):
    """VGG11 with batch norm after every convolution."""
    return build_vgg("A", variant="vgg11_bn", **{"batch_norm": True, **kwargs})


@register_model(**_SPEC, num_params=133_056_680)
def vgg13_bn(**kwargs):
    """VGG13 with batch norm after every convolution."""
    return build_vgg("B", variant="vgg13_bn", **{"batch_norm": True, **kwargs})


@register_model(**_SPEC, num_params=138_370_216)
def vgg16_bn(**kwargs):
    """VGG16 with batch norm after every convolution."""
    return build_vgg("D", variant="vgg16_bn", **{"batch_norm": True, **kwargs})


@register_model(**_SPEC, num_params=143_683_752)
def vgg19_bn(**kwargs):
    """VGG19 with batch norm after every convolution."""
    return build_vgg("E", variant="vgg19_bn", **{"batch_norm": True, **kwargs})

"""VGG: Simonyan & Zisserman 2014, "Very Deep Convolutional Networks for
Large-Scale Image Recognition" (https://arxiv.org/abs/1409.1556).

The paper describes its networks as a table of configurations (A to E); so
does this module. VGG16 and VGG19 reproduce keras.applications' layer names
and parameter counts (138,357,544 and 143,667,240), so its weights load.
"""

from keras_cnns.blocks import conv_bn_act, downsample, spatial_dropout
from keras_cnns.blocks.conv import DOWNSAMPLING_KINDS
from keras_cnns.validation import check_choice
from keras_cnns.models import base
from keras_cnns.registry import register_variant

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
POOL_PADDINGS = ("valid", "same")


class VGG(base.Backbone):
    """A VGG network from a configuration of the paper's table.

    Layers ``block{b}_conv{c}`` and ``block{b}_pool``; the classifier is
    ``flatten``, ``fc1``, ``fc2`` and ``predictions`` (keras.applications'
    names: VGG16 and VGG19 load its ImageNet weights).

    Args:
        configuration: A key of `CONFIGURATIONS` (`"A"`, `"B"`, `"D"`, `"E"`)
            or a sequence of blocks, each a sequence of channel counts.
        batch_norm: Batch norm after every convolution (the `_bn` variants).
        width_multiplier: Scales every layer's width.
        spatial_dropout_rate: Spatial dropout after each block's downsampling.
        downsampling: `"max_pool"` (the paper), `"avg_pool"` or `"strided_conv"`.
        pool_padding: Padding of the poolings (or of the strided convolutions
            that replace them): `"valid"` (the paper and keras.applications:
            five poolings need at least 32x32) or `"same"`, which rounds odd
            sizes up, so 28x28 images go through all five blocks (28, 14, 7,
            4, 2, 1) without a resize; at least 16x16. Both give the same
            result where every size is even (e.g. 224x224 or 32x32).
        hidden_units: Widths of the hidden classifier layers (``fc1``,
            ``fc2``, ...). Default None: the paper's two layers of 4096,
            scaled by `width_multiplier`. An empty sequence leaves only
            ``predictions``; small images need far less (e.g. `(256,)` at 28x28).

    The paper's `dropout` after ``fc1`` and ``fc2`` is 0.5 (keras.applications
    has none: pass 0 for its exact layer list).
    """

    family = "vgg"
    paper = PAPER
    year = 2014
    default_dropout = 0.5

    def __init__(self, configuration, *, batch_norm=False, width_multiplier=1.0, spatial_dropout_rate=0.0,
                 downsampling="max_pool", pool_padding="valid", hidden_units=None):
        if isinstance(configuration, str):
            check_choice("configuration", configuration, tuple(CONFIGURATIONS))
            configuration = CONFIGURATIONS[configuration]
        check_choice("downsampling", downsampling, DOWNSAMPLING_KINDS)
        check_choice("pool_padding", pool_padding, POOL_PADDINGS)
        base.check_dropout(spatial_dropout_rate, "spatial_dropout_rate")
        self.blocks = tuple(tuple(block) for block in configuration)
        self.batch_norm = batch_norm
        self.width_multiplier = base.check_width_multiplier(width_multiplier)
        self.spatial_dropout_rate = spatial_dropout_rate
        self.downsampling = downsampling
        self.pool_padding = pool_padding
        self.hidden_units = _check_hidden_units(hidden_units, self.width_multiplier)

    def imagenet_form(self):
        return (not self.batch_norm and self.width_multiplier == 1 and self.downsampling == "max_pool"
                and self.hidden_units == (PAPER_HIDDEN_UNITS, PAPER_HIDDEN_UNITS))

    def min_input_size(self):
        # Each block halves: "valid" drops an odd last row, so 2**blocks; "same" rounds up, so 2**(blocks - 1).
        return 2 ** len(self.blocks) if self.pool_padding == "valid" else 2 ** (len(self.blocks) - 1)

    def features(self, x, dropout):
        for b, widths in enumerate(self.blocks, start=1):
            for c, width in enumerate(widths, start=1):
                x = conv_bn_act(x, base.scaled(width, self.width_multiplier), 3, batch_norm=self.batch_norm,
                                name=f"block{b}_conv{c}", conv_name=f"block{b}_conv{c}")
            x = downsample(x, self.downsampling, padding=self.pool_padding, batch_norm=self.batch_norm,
                           name=f"block{b}_pool")
            x = spatial_dropout(x, self.spatial_dropout_rate, name=f"block{b}_dropout")
        return x

    def top(self, dropout):
        return {"hidden_units": self.hidden_units, "dropout_rate": dropout, "flatten": True}


def _check_hidden_units(hidden_units, width_multiplier):
    """The hidden classifier widths: the paper's by default, else as given."""
    if hidden_units is None:
        fc = base.scaled(PAPER_HIDDEN_UNITS, width_multiplier)
        return (fc, fc)
    units = tuple(hidden_units) if isinstance(hidden_units, (list, tuple)) else None
    if units is None or not all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units):
        raise ValueError(
            "hidden_units must be a sequence of positive ints (the widths of fc1, fc2, ...); "
            f"received hidden_units={hidden_units!r}. Pass for example (256,), () for no hidden "
            "layer, or None for the paper's (4096, 4096)."
        )
    return units


def configured(blocks, batch_norm=False):
    """A factory of the `VGG` of these blocks (a key of `CONFIGURATIONS`, or the blocks themselves)."""

    def factory(*, batch_norm=batch_norm, width_multiplier=1.0, spatial_dropout_rate=0.0, downsampling="max_pool",
                pool_padding="valid", hidden_units=None):
        return VGG(blocks, batch_norm=batch_norm, width_multiplier=width_multiplier,
                   spatial_dropout_rate=spatial_dropout_rate, downsampling=downsampling, pool_padding=pool_padding,
                   hidden_units=hidden_units)

    return factory


def build_vgg(configuration, **kwargs):
    """Builds a VGG network: `VGG`'s knobs and every network's arguments (`keras_cnns.models.base`).

    Example:

    ```python
    small = build_vgg([(32, 32), (64, 64), (128,)], batch_norm=True,
                      hidden_units=(256,), input_shape=(28, 28, 1), classes=10)
    ```
    """
    return base.build(configured(configuration), "vgg", kwargs)


for _name, _letter, _params, _bn_params in (("vgg11", "A", 132_863_336, 132_871_592),
                                            ("vgg13", "B", 133_047_848, 133_056_680),
                                            ("vgg16", "D", 138_357_544, 138_370_216),
                                            ("vgg19", "E", 143_667_240, 143_683_752)):
    register_variant(_name, configured(_letter), num_params=_params)
    register_variant(f"{_name}_bn", configured(_letter, batch_norm=True), num_params=_bn_params)

"""The VGG search space: plain networks of `keras_cnns.models.build_vgg`."""

from keras_cnns.models import build_vgg
from tuning.spaces.base import CNNHyperModel, at_least, closest

FILTER_SCHEMES = ("doubling", "free")


class VGGHyperModel(CNNHyperModel):
    """VGG-style plain networks (Simonyan & Zisserman 2014): blocks of 3x3
    convolutions, each block ending in a 2x2 pooling, then a dense head.

    | name | values | default |
    | --- | --- | --- |
    | `num_blocks` | 2 to the most the images allow (at most `max_blocks`) | 3 |
    | `block{i}_convs` | 1 to `max_convs` (if `num_blocks >= i`) | 2 |
    | `filter_scheme` | `"doubling"` (base, 2x base, ...) or `"free"` | `"doubling"` |
    | `base_filters` | 16, 32, 64 (if doubling) | 32 |
    | `block{i}_filters` | 16 to 256 (if free; block `i` uses it if `num_blocks >= i`) | 32 * 2**(i-1) |
    | `batch_norm` | True, False | True |
    | `spatial_dropout` | 0, 0.1, 0.2, 0.3 (after each block) | 0.0 |
    | `hidden_units` | 0 (none), 128, 256, 512 (one hidden layer) | 256 |
    | `dropout` | 0, 0.25, 0.5 (in the head) | 0.5 |

    Widths above 256 stay out: at 28x28 they cost far more time than they
    return. The defaults are a VGG-11-like network of three blocks.

    Args:
        input_shape: `(height, width, channels)` of the images.
        classes: Number of classes.
        max_blocks: Most blocks (lowered to what the images allow: each
            halves the size).
        max_convs: Most convolutions per block.
        filter_choices: Widths a block may take with the `"free"` scheme.
        **kwargs: `CNNHyperModel`'s arguments.

    Raises:
        ValueError: If the images are too small for two blocks.

    Example:

    ```python
    hypermodel = VGGHyperModel((28, 28, 1), 10, fixed={"batch_norm": True})
    ```
    """

    builder = build_vgg
    reference_model = "vgg11_bn"

    def __init__(self, input_shape, classes, *, max_blocks=5, max_convs=3,
                 filter_choices=(16, 32, 64, 128, 256), **kwargs):
        super().__init__(input_shape, classes, **kwargs)
        size = min(self.input_shape[:2])
        self.max_blocks = min(max_blocks, size.bit_length() - 1)  # 2**blocks <= size
        if self.max_blocks < 2:
            raise ValueError(
                f"VGG-style networks halve the images after each block; {size}x{size} images leave "
                "room for fewer than 2 blocks. Use images of at least 4x4."
            )
        self.max_convs = max_convs
        self.filter_choices = tuple(filter_choices)

    def architecture(self, hp):
        num_blocks = self.integer(hp, "num_blocks", 2, self.max_blocks, min(3, self.max_blocks))
        scheme = self.choice(hp, "filter_scheme", FILTER_SCHEMES, "doubling")
        with hp.conditional_scope("filter_scheme", ["doubling"]):
            base = self.choice(hp, "base_filters", (16, 32, 64), 32)
        configuration = []
        for block in range(1, self.max_blocks + 1):
            with at_least(hp, "num_blocks", block, 2, self.max_blocks):
                convs = self.integer(hp, f"block{block}_convs", 1, self.max_convs, min(2, self.max_convs))
            # Keras Tuner conditions on one parent at a time, so a free width
            # depends on the scheme only; blocks beyond num_blocks ignore theirs.
            with hp.conditional_scope("filter_scheme", ["free"]):
                free = self.choice(hp, f"block{block}_filters", self.filter_choices,
                                   closest(self.filter_choices, 32 * 2 ** (block - 1)))
            if block <= num_blocks:
                width = base * 2 ** (block - 1) if scheme == "doubling" else free
                configuration.append([width] * convs)
        hidden = self.choice(hp, "hidden_units", (0, 128, 256, 512), 256)
        return dict(
            configuration=configuration,
            batch_norm=self.boolean(hp, "batch_norm", True),
            spatial_dropout_rate=self.choice(hp, "spatial_dropout", (0.0, 0.1, 0.2, 0.3), 0.0),
            hidden_units=[hidden] if hidden else [],
            dropout=self.choice(hp, "dropout", (0.0, 0.25, 0.5), 0.5),
        )

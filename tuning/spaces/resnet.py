"""The ResNet search space: depth and width of `keras_cnns.models.build_resnet`.

Keras Tuner's own `HyperResNet` copies keras.applications' blocks and
searches depth and block type only; this space calls the project's builder
and also searches widths.
"""

from keras_cnns.blocks import DOWNSAMPLING_KINDS
from keras_cnns.models import build_resnet
from keras_cnns.models.resnet import BLOCK_TYPES, STEM_STRIDES, STEMS
from tuning.spaces.base import CNNHyperModel, at_least, check_subset, closest


class ResNetHyperModel(CNNHyperModel):
    """ResNets in their CIFAR and ImageNet forms (He et al. 2015), by stages.

    Stage `i` has `stage{i}_blocks` blocks of `base_filters * 2**(i-1)`
    filters (times `width_multiplier`, as wide ResNets widen), every stage
    but the first starting with a stride-2 block.

    | name | values | default |
    | --- | --- | --- |
    | `stem` | `"cifar"` (3x3 convolution), `"imagenet"` (7x7/2 and pooling) | `"cifar"` |
    | `num_stages` | `min_stages` to the most the images allow | 3 |
    | `stage{i}_blocks` | 1 to `max_blocks` (if `num_stages >= i`) | 3 |
    | `base_filters` | 8, 16, 32, 64 | 16 |
    | `width_multiplier` | 0.5, 1, 1.5, 2 | 1.0 |
    | `block_type` | `"basic"`, `"bottleneck"` | `"basic"` |
    | `downsampling` | the stem's pooling (if `stem == "imagenet"`) | `"max_pool"` |

    Every stem allows as many stages as the images leave at least 1x1 for:
    at 28x28, up to 5 stages with the CIFAR stem alone, 3 with both stems.
    The defaults are ResNet-20.

    Args:
        input_shape: `(height, width, channels)` of the images.
        classes: Number of classes.
        stems: The stems to search.
        min_stages: Fewest stages.
        max_stages: Most stages (lowered to what the images allow).
        max_blocks: Most blocks per stage.
        base_filters: Choices of the first stage's width.
        width_multipliers: Choices of the width multiplier.
        block_types: Block types to search.
        **kwargs: `CNNHyperModel`'s arguments (`epochs`, `fixed`, ...).

    Raises:
        ValueError: If the images are too small for `min_stages` stages.

    Example:

    ```python
    hypermodel = ResNetHyperModel((28, 28, 1), 10, dataset="fashion_mnist")
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=10)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=3)
    ```
    """

    builder = build_resnet
    reference_model = "resnet20"

    def __init__(self, input_shape, classes, *, stems=STEMS, min_stages=2, max_stages=4, max_blocks=4,
                 base_filters=(8, 16, 32, 64), width_multipliers=(0.5, 1.0, 1.5, 2.0),
                 block_types=BLOCK_TYPES, **kwargs):
        super().__init__(input_shape, classes, **kwargs)
        self.stems = check_subset("stems", stems, STEMS)
        self.block_types = check_subset("block_types", block_types, BLOCK_TYPES)
        size = min(self.input_shape[:2])
        fitting = min(_stages_fitting(size, STEM_STRIDES[stem]) for stem in self.stems)
        self.min_stages = min_stages
        self.max_stages = min(max_stages, fitting)
        if self.max_stages < min_stages:
            raise ValueError(
                f"{size}x{size} images leave room for {fitting} ResNet stage(s) with stems "
                f"{list(self.stems)}; received min_stages={min_stages}. Lower min_stages, drop the "
                "'imagenet' stem (stems=('cifar',)) or use larger images."
            )
        self.max_blocks = max_blocks
        self.base_filters = tuple(base_filters)
        self.width_multipliers = tuple(width_multipliers)

    def architecture(self, hp):
        stem = self.choice(hp, "stem", self.stems, self.stems[0])
        num_stages = self.integer(hp, "num_stages", self.min_stages, self.max_stages,
                                  min(3, self.max_stages))
        blocks = []
        for stage in range(1, self.max_stages + 1):
            with at_least(hp, "num_stages", stage, self.min_stages, self.max_stages):
                count = self.integer(hp, f"stage{stage}_blocks", 1, self.max_blocks, min(3, self.max_blocks))
            if stage <= num_stages:
                blocks.append(count)
        base = self.choice(hp, "base_filters", self.base_filters, closest(self.base_filters, 16))
        width = self.choice(hp, "width_multiplier", self.width_multipliers,
                            closest(self.width_multipliers, 1.0))
        block_type = self.choice(hp, "block_type", self.block_types, self.block_types[0])
        kwargs = dict(
            stackwise_num_blocks=blocks,
            stackwise_num_filters=[base * 2**stage for stage in range(num_stages)],
            block_type=block_type,
            stem=stem,
            width_multiplier=width,
        )
        if "imagenet" in self.stems:
            with hp.conditional_scope("stem", ["imagenet"]):
                downsampling = self.choice(hp, "downsampling", DOWNSAMPLING_KINDS, "max_pool")
            if stem == "imagenet":
                kwargs["downsampling"] = downsampling
        return kwargs


def _stages_fitting(size, stem_stride):
    """Most stages such that `stem_stride * 2**(stages - 1) <= size`."""
    stages = 0
    while stem_stride * 2**stages <= size:
        stages += 1
    return stages

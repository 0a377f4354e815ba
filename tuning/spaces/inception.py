"""The Inception search space: module tables for `keras_cnns.models.build_googlenet`."""

import math

from keras_cnns.models import build_googlenet
from tuning.spaces.base import CNNHyperModel, at_least, closest

# GoogLeNet's inception3a splits its output 64 : 128 : 32 : 32; the defaults
# keep those proportions at a quarter of the width, doubling per stage.
DEFAULT_BRANCH_WIDTHS = {"1x1": 16, "3x3": 32, "5x5": 8, "pool_proj": 8}


class InceptionHyperModel(CNNHyperModel):
    """Inception-style networks (Szegedy et al. 2014) for small images.

    A 3x3 stem (`build_googlenet(stem="cifar")`), then stages of inception
    modules with a 3x3/2 max pooling between stages, global average pooling
    and the classifier. The branches of every module of stage `i` have the
    widths `stage{i}_{branch}`; the 1x1 reductions before the 3x3 and 5x5
    convolutions are `reduction_ratio` times those convolutions' widths.

    | name | values | default |
    | --- | --- | --- |
    | `stem_filters` | 16, 32, 64 | 32 |
    | `num_stages` | 1 to the most the images allow (at most `max_stages`) | 2 |
    | `stage{i}_modules` | 1 to `max_modules` (if `num_stages >= i`) | 1 (2 in stage 2) |
    | `stage{i}_1x1`, `_3x3`, `_5x5`, `_pool_proj` | 8 to 128 (if `num_stages >= i`) | 16, 32, 8, 8, doubled per stage |
    | `reduction_ratio` | 0.25, 0.5, 0.75, 1.0 | 0.5 |
    | `batch_norm` | True, False | True |
    | `dropout` | 0, 0.2, 0.4 (before the classifier) | 0.4 |

    Args:
        input_shape: `(height, width, channels)` of the images.
        classes: Number of classes.
        max_stages: Most stages (lowered to what the images allow).
        max_modules: Most modules per stage.
        width_choices: Widths a branch may take.
        **kwargs: `CNNHyperModel`'s arguments.

    Example:

    ```python
    hypermodel = InceptionHyperModel((28, 28, 1), 10, fixed={"num_stages": 2})
    ```
    """

    builder = build_googlenet
    reference_model = "googlenet"

    def __init__(self, input_shape, classes, *, max_stages=3, max_modules=3,
                 width_choices=(8, 16, 24, 32, 48, 64, 96, 128), **kwargs):
        super().__init__(input_shape, classes, **kwargs)
        size = min(self.input_shape[:2])
        self.max_stages = min(max_stages, size.bit_length())  # 2**(stages - 1) <= size
        self.max_modules = max_modules
        self.width_choices = tuple(width_choices)

    def architecture(self, hp):
        stem_filters = self.choice(hp, "stem_filters", (16, 32, 64), 32)
        num_stages = self.integer(hp, "num_stages", 1, self.max_stages, min(2, self.max_stages))
        ratio = self.choice(hp, "reduction_ratio", (0.25, 0.5, 0.75, 1.0), 0.5)
        modules = []
        for stage in range(1, self.max_stages + 1):
            with at_least(hp, "num_stages", stage, 1, self.max_stages):
                count = self.integer(hp, f"stage{stage}_modules", 1, self.max_modules,
                                     min(2 if stage == 2 else 1, self.max_modules))
                widths = {
                    branch: self.choice(hp, f"stage{stage}_{branch}", self.width_choices,
                                        closest(self.width_choices, default * 2 ** (stage - 1)))
                    for branch, default in DEFAULT_BRANCH_WIDTHS.items()
                }
            if stage > num_stages:
                continue
            if stage > 1:
                modules.append("pool")
            row = (widths["1x1"], _reduced(widths["3x3"], ratio), widths["3x3"],
                   _reduced(widths["5x5"], ratio), widths["5x5"], widths["pool_proj"])
            # GoogLeNet's labels: stage 1 holds modules 3a, 3b, ...; stage 2 4a, ...
            modules += [[f"{stage + 2}{chr(ord('a') + m)}", list(row)] for m in range(count)]
        return dict(
            modules=modules,
            stem="cifar",
            stem_filters=stem_filters,
            batch_norm=self.boolean(hp, "batch_norm", True),
            dropout=self.choice(hp, "dropout", (0.0, 0.2, 0.4), 0.4),
        )


def _reduced(width, ratio):
    return max(1, int(math.ceil(width * ratio)))

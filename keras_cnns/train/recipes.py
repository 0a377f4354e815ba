"""Named training recipes: a network, a dataset and the settings that were
measured to reach an accuracy, under one name.

`default_config(model, dataset)` gives a family's starting point; a recipe is
a finished, measured run you can repeat (`keras-cnns train --recipe NAME`, or
`recipe_config(NAME)` in Python) and then change (any `TrainConfig` field
overrides it). What each reached, and the command that measured it, is in
BENCHMARKS.md (`benchmarks/bench_time_to_accuracy.py run` for the main job's
recipe, `benchmarks/bench_training.py long` for ResNet-20's).

```python
from keras_cnns.train import recipe_config, train

result = train(recipe_config("fashion_mnist_quick"))
```
"""

import dataclasses

from keras_cnns.train.config import default_config


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named `TrainConfig`: `default_config(model, dataset, **settings)`.

    Attributes:
        name: The recipe's name.
        model: Registered model name.
        dataset: Dataset name.
        settings: `TrainConfig` fields that differ from `default_config`.
        summary: One line for `keras-cnns recipes`: what it is for.
        measured: What it reached, as BENCHMARKS.md reports it: test
            accuracy (the lowest of the runs that `runs` counts; other
            runs are described there), training minutes (the slowest of
            them), the runs and the benchmark command that repeats them.
    """

    name: str
    model: str
    dataset: str
    settings: dict
    summary: str
    measured: dict = dataclasses.field(default_factory=dict)

    def describe(self):
        """The summary with what was measured, for `keras-cnns recipes`."""
        if not self.measured:
            return self.summary
        return (f"{self.summary}; measured: {self.measured['test_accuracy'] * 100:.2f}% test accuracy after "
                f"{self.measured['training_minutes']:.1f} minutes of training ({self.measured['runs']})")


# The main job's settings; fashion_mnist_wide changes a few of them.
_QUICK_SETTINGS = dict(
    epochs=8,
    batch_size=256,
    lr_batch_size=256,
    image_size=[28, 28],
    model_kwargs={"width_multiplier": 0.25, "hidden_units": [], "dropout": 0.0,
                  "pool_padding": "same"},
    optimizer="sgd",
    learning_rate=0.1,
    weight_decay=5e-4,
    warmup_epochs=1,
    label_smoothing=0.2,
    augment={"flip": True},
    validation_split=0.0,
    whiten_first_conv=True,
    batch_norm_momentum=0.9,
    ema_decay=0.99,
    tta="flip",
)

# The main job's network at half width (4x the multiply-adds), for 26 epochs, with random crops (padding 2) and
# flips that alternate by epoch; six test-time views (flips and one-pixel shifts).
_WIDE_SETTINGS = {
    **_QUICK_SETTINGS,
    "epochs": 26,
    "model_kwargs": {**_QUICK_SETTINGS["model_kwargs"], "width_multiplier": 0.5},
    "warmup_epochs": 2,
    "augment": {"crop_padding": 2, "flip": "alternate"},
    "tta": "flip_shift",
}

# The ResNet family's recipe on Fashion-MNIST (fashion_mnist_resnet20): its own 28x28, all 60,000 training images
# as papers train (no validation split), batch 256 at the linearly scaled learning rate 0.2.
_RESNET20_SETTINGS = dict(
    epochs=50,
    batch_size=256,
    lr_batch_size=256,
    learning_rate=0.2,
    image_size=[28, 28],
    validation_split=0.0,
)

# fashion_mnist_resnet20's schedule for 16 epochs at twice the width, with the speed-record pieces of
# fashion_mnist_wide (a whitened first convolution, batch-norm momentum 0.9, EMA 0.99, label smoothing 0.2, two
# warm-up epochs, crops with alternating flips), batch-norm biases at 64 times the learning rate (airbench's
# value) and the mirror image at test time.
_RESNET14X2_SETTINGS = {
    **_RESNET20_SETTINGS,
    "epochs": 16,
    "model_kwargs": {"width_multiplier": 2.0},
    **{field: _WIDE_SETTINGS[field] for field in ("warmup_epochs", "label_smoothing", "augment", "whiten_first_conv",
                                                  "batch_norm_momentum", "ema_decay")},
    "norm_bias_lr_scale": 64.0,
    "tta": "flip",
}


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="fashion_mnist_quick",
            model="vgg11_bn",
            dataset="fashion_mnist",
            # Quarter width and no dense hidden layers: the fewest multiply-adds that still reach 93%;
            # "same" pooling keeps 28x28 (no resize to 32x32, 11-19% less time per step); flips only.
            # Issue 14's pieces: all 60,000 training images (no validation split), bfloat16 where the CPU
            # has it (mixed_precision "auto"), a whitened first convolution, batch-norm statistics that follow
            # the fast-moving weights, an average of the weights, label smoothing 0.2, and the mirror image
            # averaged in at test time; 8 epochs instead of 12.
            settings=_QUICK_SETTINGS,
            summary="the README's main job: VGG-11-BN at a quarter width, 8 epochs with the speed-record pieces",
            measured={"test_accuracy": 0.9337, "training_minutes": 2.2,
                      "runs": "3 seeds, 2026-12-05, an Intel Xeon with AMX, the batch-norm statistics averaged "
                              "with the weights (mean 93.51%); 2026-12-02 on an AMD EPYC before that: "
                              "93.47-93.64% in 2.0-2.1 minutes",
                      "command": "benchmarks/bench_time_to_accuracy.py run --recipes fashion_mnist_quick --seeds 0 "
                                 "1 2 --no-references --results time_to_accuracy-quick-averaged-statistics"},
        ),
        Recipe(
            name="fashion_mnist_wide",
            model="vgg11_bn",
            dataset="fashion_mnist",
            settings=_WIDE_SETTINGS,
            summary="VGG-11-BN at half width, 26 epochs with the speed-record pieces, crops and alternating flips",
            measured={"test_accuracy": 0.9446, "training_minutes": 16.4,
                      "runs": "1 seed, 2026-12-02, an AMD EPYC; seed 0 twice on an Intel Xeon with AMX, 2026-12-04: "
                              "94.55-94.57% in 14.3-14.4 minutes",
                      "command": "benchmarks/bench_time_to_accuracy.py run --recipes fashion_mnist_wide --seeds 0 "
                                 "--no-references --results time_to_accuracy-wide"},
        ),
        Recipe(
            name="fashion_mnist_resnet14x2",
            model="resnet14",
            dataset="fashion_mnist",
            # The closest to 95% in 20 minutes on two CPU cores so far: ResNet-14 (two blocks a stage) at twice
            # the width (32, 64 and 128 filters, WRN-14-2's stage widths), whose wider convolutions keep the
            # bfloat16 matrix units busier (418 GFLOP/s against ResNet-20's 264, `bench_step_time.py widths`), for
            # 16 epochs with the speed-record pieces of fashion_mnist_wide, faster batch-norm biases and the mirror
            # image at test time.
            settings=_RESNET14X2_SETTINGS,
            summary="ResNet-14 at twice the width, 16 epochs with the speed-record pieces (95% is its goal, not met)",
            measured={"test_accuracy": 0.9473, "training_minutes": 17.2,
                      "runs": "3 seeds, 2026-12-05, an Intel Xeon with AMX in a fast hour (61-64 s an epoch); the "
                              "mean 94.90%; without the faster batch-norm biases, 2026-12-04: 94.58-94.92%, "
                              "18.1-19.5 minutes. They ran as --set norm_bias_lr_scale=64: "
                              "time_to_accuracy-resnet14x2-norm-bias-64.json (seed 1) and -seeds0-2.json",
                      "command": "benchmarks/bench_time_to_accuracy.py run --recipes fashion_mnist_resnet14x2 "
                                 "--seeds 0 1 2 --no-references --results time_to_accuracy-resnet14x2-norm-bias"},
        ),
        Recipe(
            name="fashion_mnist_resnet20",
            model="resnet20",
            dataset="fashion_mnist",
            # The ResNet family's recipe with Fashion-MNIST's default augmentation.
            settings=_RESNET20_SETTINGS,
            summary="the longer recipe: CIFAR-form ResNet-20 with augmentation, 50 epochs on all 60,000 images",
            measured={"test_accuracy": 0.9510, "training_minutes": 90.4,
                      "runs": "1 run in float32, 2026-11-30; in bfloat16, which mixed_precision='auto' picks on a "
                              "CPU with it: 94.94% and 95.04% in 35.6 and 35.4 minutes, 2 runs of seed 0, "
                              "2026-12-04/05",
                      "command": "benchmarks/bench_training.py long"},
        ),
    )
}


def list_recipes():
    """The names of the recipes, sorted."""
    return sorted(RECIPES)


def recipe_config(name, **overrides):
    """The `TrainConfig` of recipe `name`, with any field overridden.

    Args:
        name: A recipe name (`list_recipes()`).
        **overrides: `TrainConfig` fields applied last, e.g. `out_dir`,
            `epochs`, `model`. Fewer epochs than the recipe's also shorten
            its warm-up to at most a fifth of them; another dataset drops
            the recipe's `image_size` (unless one is given).

    Returns:
        A `TrainConfig`.

    Raises:
        ValueError: If there is no recipe of that name.
    """
    if name not in RECIPES:
        raise ValueError(
            f"No training recipe named {name!r}. The recipes are {list_recipes()} "
            "(`keras-cnns recipes` describes them)."
        )
    recipe = RECIPES[name]
    settings = dict(recipe.settings)
    settings.update(overrides)
    if "epochs" in overrides and "warmup_epochs" in recipe.settings and "warmup_epochs" not in overrides:
        # A shortened recipe keeps at most a fifth of its epochs for warm-up,
        # as default_config does.
        settings["warmup_epochs"] = min(recipe.settings["warmup_epochs"], overrides["epochs"] / 5)
    if overrides.get("dataset", recipe.dataset) != recipe.dataset and "image_size" not in overrides:
        # The recipe's image size is its dataset's; another dataset keeps its own
        # (resized up to the network's minimum).
        settings.pop("image_size", None)
    model = settings.pop("model", recipe.model)
    dataset = settings.pop("dataset", recipe.dataset)
    return default_config(model, dataset, **settings)

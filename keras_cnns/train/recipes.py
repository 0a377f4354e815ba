"""Named training recipes: a network, a dataset and the settings that were
measured to reach an accuracy, under one name.

`default_config(model, dataset)` gives a family's starting point; a recipe is
a finished, measured run you can repeat (`keras-cnns train --recipe NAME`, or
`recipe_config(NAME)` in Python) and then change (any `TrainConfig` field
overrides it). What each reached, and the command that measured it, is in
BENCHMARKS.md (`benchmarks/bench_training.py budget` and `long`).

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
        summary: One line for `keras-cnns recipes`: what it is for and what
            it reached on this project's 2-core CPU.
    """

    name: str
    model: str
    dataset: str
    settings: dict
    summary: str


RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="fashion_mnist_quick",
            model="vgg11_bn",
            dataset="fashion_mnist",
            # VGG-11 with batch norm at a quarter of its width (580k
            # parameters) and no dense hidden layers, at Fashion-MNIST's own
            # 28x28: "same" pooling takes 28x28 through all five blocks
            # (28, 14, 7, 4, 2, 1), 11-19% less time per step than resizing
            # to 32x32. SGD with Nesterov momentum, flips only: at 12 epochs
            # crop and flip reached 0.9294, flips alone 0.9321 (one run
            # each; runs differ by about 0.1 points). Measured
            # (BENCHMARKS.md): 0.9314 test accuracy after 270 s of
            # training; two more runs 0.9326 / 0.9304 in 293 / 282 s.
            settings=dict(
                epochs=12,
                batch_size=256,
                image_size=[28, 28],
                model_kwargs={"width_multiplier": 0.25, "hidden_units": [], "dropout": 0.0,
                              "pool_padding": "same"},
                optimizer="sgd",
                learning_rate=0.1,
                weight_decay=5e-4,
                warmup_epochs=1,
                label_smoothing=0.1,
                augment={"flip": True},
            ),
            summary="the README's main job: 93.2% test accuracy on Fashion-MNIST after 4.5 minutes "
                    "of training on a 2-core CPU",
        ),
        Recipe(
            name="fashion_mnist_resnet20",
            model="resnet20",
            dataset="fashion_mnist",
            # The ResNet family's recipe (SGD with Nesterov momentum, weight
            # decay 5e-4, cosine after 2 warm-up epochs, label smoothing 0.1)
            # with Fashion-MNIST's default augmentation (crop with 2 pixels
            # of padding, flips, random erasing) at its own 28x28, trained on
            # all 60,000 training images as papers do (no validation split:
            # best.keras is the epoch with the best training accuracy, here
            # the last). Batch 256 at learning rate 0.2 (0.1 per 128, the
            # linear scaling rule); not for speed: alternating rounds
            # (benchmarks/bench_step_time.py batch_size) found batch 128 9-12%
            # faster per image on this CPU.
            # Measured (BENCHMARKS.md): 0.9510 test accuracy after 50 epochs,
            # 94-146 s an epoch; 60 epochs of batch 128 on 54,000 images
            # (validation split 0.1) had reached 0.9467.
            settings=dict(
                epochs=50,
                batch_size=256,
                learning_rate=0.2,
                image_size=[28, 28],
                validation_split=0.0,
            ),
            summary="the longer recipe: CIFAR-form ResNet-20 with augmentation, 50 epochs on all "
                    "60,000 images, 95.1% test accuracy (1.5 hours on a 2-core CPU)",
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

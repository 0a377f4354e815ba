"""Data augmentation as Keras preprocessing layers, described by recipes.

A recipe is a dict of strengths; each key turns on one layer:

| key            | value                     | layer                                  |
| -------------- | ------------------------- | -------------------------------------- |
| `crop_padding` | int pixels, `>= 0`        | random crop after zero padding         |
| `flip`         | bool, RandomFlip mode, or `"alternate"` | `RandomFlip("horizontal")` for `True`; see below for `"alternate"` |
| `translation`  | float in `[0, 1)`         | `RandomTranslation(t, t)`              |
| `rotation`     | float in `[0, 1)`         | `RandomRotation(r)` (fraction of 2 pi) |
| `zoom`         | float in `[0, 1)`         | `RandomZoom(z)` (in and out)           |
| `erasing`      | probability in `[0, 1]`   | `RandomErasing`                        |

`"flip": "alternate"` mirrors each training image in every other epoch
instead of at random (airbench, Jordan 2024): in the first epoch a random
half of the images are mirrored, in the next the other half, and so on, so
every two epochs show each image both ways, where random flips leave a
quarter of the images unmirrored (or always mirrored) over any two epochs.
It needs to know the epoch, so it is not a layer: the data pipeline of a
training run does it (`DatasetBundle.training_stream`, used by `train`),
before the layers here. Where passes are not numbered (a bundle's `train`
iterated by hand, a tuning trial's pipeline), `"alternate"` flips at random,
as `True` does.

Layers run in the table's order and expect pixels in `[0, 255]` (the data
pipeline augments before normalizing, so zero padding is black).

"Random crop with padding" (pad by `p` pixels, then crop a random window of
the original size) is the same as shifting each image by a random whole number
of pixels in `[-p, p]` and filling with zeros. It is built that way, as a
`RandomTranslation` with nearest-pixel sampling and constant zero fill,
because `keras.layers.RandomCrop` draws one window per batch, whereas the
recipe means one window per image.

Reference for random erasing: Z. Zhong et al., "Random Erasing Data
Augmentation", AAAI 2020 (arXiv:1708.04896).
"""

import keras

# Recipes keyed by dataset name; "default" recipes for other names use
# GENERIC_RECIPE. Flips are off for digits (a flipped 2 is not a 2).
DEFAULT_RECIPES = {
    "fashion_mnist": {"crop_padding": 2, "flip": True, "erasing": 0.25},
    "mnist": {"translation": 0.1, "rotation": 0.03},
    "digits": {"translation": 0.1, "rotation": 0.03},
    "cifar10": {"crop_padding": 4, "flip": True},
    "cifar100": {"crop_padding": 4, "flip": True},
}
GENERIC_RECIPE = {"translation": 0.1, "zoom": 0.1}

RECIPE_KEYS = ("crop_padding", "flip", "translation", "rotation", "zoom", "erasing")
_FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")
ALTERNATE_FLIPS = "alternate"
_PIXEL_RANGE = (0, 255)


def build_augmentation(recipe, image_shape, seed=None, alternating_flips=False):
    """Builds the augmentation layers a recipe describes.

    Args:
        recipe: Dict of strengths (see the module docstring for the keys),
            or `None` / `False` / `{}` for no augmentation.
        image_shape: `(height, width, channels)` of the images to augment.
        seed: Optional integer; each layer gets `seed + position` so the
            layers draw independent random numbers.
        alternating_flips: The caller's pipeline mirrors the images by pass
            for `"flip": "alternate"` (`make_pipeline(flip_bits=...)`), so
            no flip layer is built for it; else it becomes a random flip.

    Returns:
        A `keras.layers.Pipeline` to call with `training=True` on batches of
        pixels in `[0, 255]`, or `None` when the recipe turns nothing on.
        A `Pipeline` rather than a `keras.Sequential` because it stays usable
        inside `tf.data` under every Keras backend; it is a layer, so it can
        also be placed at the start of a model.

    Raises:
        ValueError: If the recipe has an unknown key or an out-of-range value.

    Example:

    ```python
    augment = build_augmentation({"crop_padding": 4, "flip": True}, (32, 32, 3))
    augmented = augment(images, training=True)
    ```
    """
    recipe = validate_recipe(recipe)
    if not recipe:
        return None
    height, width = image_shape[0], image_shape[1]
    layers = []
    for key in RECIPE_KEYS:
        if key not in recipe:
            continue
        layer_seed = None if seed is None else seed + len(layers)
        value = recipe[key]
        if key == "flip" and value == ALTERNATE_FLIPS:
            if alternating_flips:
                continue  # The pipeline flips by pass.
            value = True
        layer = _LAYER_BUILDERS[key](value, height, width, layer_seed)
        if layer is not None:
            layers.append(layer)
    if not layers:
        return None
    return keras.layers.Pipeline(layers, name="augmentation")


def resolve_recipe(augment, dataset_name):
    """Turns the `augment` argument of `load_dataset` into a recipe dict.

    Args:
        augment: `None`/`False` (off), `True`/`"default"` (the dataset's
            recipe from `DEFAULT_RECIPES`, else `GENERIC_RECIPE`), the name of
            another dataset's recipe (e.g. `"cifar10"`), or a recipe dict.
        dataset_name: Name used to look up the default recipe.

    Returns:
        A validated recipe dict, or `None` for no augmentation.

    Raises:
        ValueError: If `augment` is a string naming no recipe, or an invalid
            recipe dict.
    """
    if augment is None or augment is False:
        return None
    if augment is True or augment == "default":
        # "mnist:3.*.*" and "cifar10/config" use their dataset's recipe.
        base_name = dataset_name.split(":")[0].split("/")[0]
        return dict(DEFAULT_RECIPES.get(base_name, GENERIC_RECIPE))
    if isinstance(augment, str):
        if augment in DEFAULT_RECIPES:
            return dict(DEFAULT_RECIPES[augment])
        raise ValueError(
            f"Unknown augmentation recipe name {augment!r}. Pass 'default', "
            f"one of {sorted(DEFAULT_RECIPES)}, a dict of strengths with keys "
            f"from {list(RECIPE_KEYS)}, or None to turn augmentation off."
        )
    return validate_recipe(augment)


def validate_recipe(recipe):
    """Checks a recipe dict and returns a copy with only active entries.

    Args:
        recipe: Dict of strengths, or `None` / `False`.

    Returns:
        A dict without the entries that switch nothing on (0, `False`).

    Raises:
        ValueError: If the recipe is not a dict, has unknown keys, or has a
            value of the wrong type or range.
    """
    if recipe is None or recipe is False:
        return {}
    if not isinstance(recipe, dict):
        raise ValueError(
            f"An augmentation recipe must be a dict of strengths; received "
            f"{recipe!r}. Pass for example {{'flip': True, 'translation': 0.1}}."
        )
    unknown = sorted(set(recipe) - set(RECIPE_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown augmentation recipe key(s) {unknown} in {recipe!r}. "
            f"Valid keys are {list(RECIPE_KEYS)}."
        )
    for key, value in recipe.items():
        _VALIDATORS[key](key, value)
    return {key: value for key, value in recipe.items() if value}


def _check_fraction(key, value, upper=1.0, upper_inclusive=False):
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    in_range = is_number and (
        0 <= value <= upper if upper_inclusive else 0 <= value < upper
    )
    if not in_range:
        bracket = "]" if upper_inclusive else ")"
        raise ValueError(
            f"Augmentation strength {key!r} must be a number in [0, "
            f"{upper}{bracket}; received {value!r}. Pass for example 0.1, or "
            "0 to turn it off."
        )


def _check_probability(key, value):
    _check_fraction(key, value, upper_inclusive=True)


def _check_padding(key, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"Augmentation strength {key!r} is a padding in whole pixels and "
            f"must be an int >= 0; received {value!r}. Pass for example 4."
        )


def _check_flip(key, value):
    if not isinstance(value, bool) and value not in (*_FLIP_MODES, ALTERNATE_FLIPS):
        raise ValueError(
            f"Augmentation option {key!r} must be True, False or one of "
            f"{[*_FLIP_MODES, ALTERNATE_FLIPS]}; received {value!r}."
        )


def alternates_flips(recipe):
    """Whether a (validated) recipe asks for flips that alternate by epoch (`"flip": "alternate"`)."""
    return bool(recipe) and recipe.get("flip") == ALTERNATE_FLIPS


def _crop_padding_layer(padding, height, width, seed):
    if padding >= min(height, width):
        raise ValueError(
            f"crop_padding={padding} is not smaller than the image size "
            f"{(height, width)}. Pass a padding of a few pixels, e.g. "
            f"{max(1, min(height, width) // 8)}."
        )
    return keras.layers.RandomTranslation(
        height_factor=padding / height,
        width_factor=padding / width,
        fill_mode="constant",
        fill_value=0.0,
        interpolation="nearest",
        seed=seed,
        name="augment_crop",
    )


def _flip_layer(flip, height, width, seed):
    mode = "horizontal" if flip is True else flip
    return keras.layers.RandomFlip(mode=mode, seed=seed, name="augment_flip")


def _translation_layer(factor, height, width, seed):
    return keras.layers.RandomTranslation(
        height_factor=factor,
        width_factor=factor,
        seed=seed,
        name="augment_translation",
    )


def _rotation_layer(factor, height, width, seed):
    return keras.layers.RandomRotation(
        factor=factor, seed=seed, name="augment_rotation"
    )


def _zoom_layer(factor, height, width, seed):
    return keras.layers.RandomZoom(
        height_factor=factor, seed=seed, name="augment_zoom"
    )


def _erasing_layer(probability, height, width, seed):
    # A (p, p) factor makes p the exact per-image probability; a single float
    # would draw the probability itself from [0, p].
    return keras.layers.RandomErasing(
        factor=(probability, probability),
        value_range=_PIXEL_RANGE,
        seed=seed,
        name="augment_erasing",
    )


_VALIDATORS = {
    "crop_padding": _check_padding,
    "flip": _check_flip,
    "translation": _check_fraction,
    "rotation": _check_fraction,
    "zoom": _check_fraction,
    "erasing": _check_probability,
}
_LAYER_BUILDERS = {
    "crop_padding": _crop_padding_layer,
    "flip": _flip_layer,
    "translation": _translation_layer,
    "rotation": _rotation_layer,
    "zoom": _zoom_layer,
    "erasing": _erasing_layer,
}

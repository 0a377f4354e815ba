"""`CNNHyperModel`: what every search space shares.

A space is a Keras Tuner `HyperModel` that turns hyperparameters into the
keyword arguments of one of `keras_cnns.models`' builders (never a copy of
it), plus the training hyperparameters every family shares. The training
itself is the training core's: a `TrainConfig` carries the trial's
optimizer, learning rate, weight decay, batch size and augmentation, and
`keras_cnns.train.build_model` / `compile_model` build and compile exactly as
`keras_cnns.train.train` does.

Keras Tuner's two hooks:

* `build(hp)` builds the (uncompiled) network of a trial.
* `fit(hp, model, x, y, validation_data=..., epochs=..., callbacks=...)`
  makes the `tf.data` pipelines for the trial's batch size and augmentation
  strength from in-memory images, compiles (the learning-rate schedule needs
  the number of steps) and trains.

Every hyperparameter is declared on every call, active or not (inactive
ones sit in a conditional scope), so one declaration pass shows the whole
space; `fixed` pins any of them to a value.
"""

import contextlib
import math

import keras
import keras_tuner
import numpy as np

from keras_cnns.data.augment import build_augmentation, resolve_recipe
from keras_cnns.data.pipeline import make_pipeline
from keras_cnns.data.preprocessing import compute_normalization
from keras_cnns.train import DivergenceGuard, EpochStats, TrainConfig, build_model, compile_model
from keras_cnns.train.fused_batch_norm import fused_batch_norm, use_fused_batch_norm
from keras_cnns.train.trainer import fit_passes
from keras_cnns.validation import check_positive_int
from tuning.memory import released_custom_gradients

# The training hyperparameters (see `CNNHyperModel.training_hyperparameters`).
OPTIMIZER_CHOICES = ("sgd", "adamw")
BATCH_SIZES = (64, 128, 256)
AUGMENT_STRENGTHS = (0.0, 0.5, 1.0, 1.5)
# (low, high, default) per optimizer, searched on a log scale. SGD (Nesterov
# momentum 0.9) and AdamW want learning rates two orders of magnitude apart,
# and their weight decays mean different things (coupled L2 or decoupled),
# so each optimizer has its own conditional pair.
LEARNING_RATES = {"sgd": (0.01, 0.4, 0.1), "adamw": (3e-4, 3e-3, 1e-3)}
WEIGHT_DECAYS = {"sgd": (1e-5, 1e-3, 5e-4), "adamw": (1e-3, 0.1, 0.05)}


class CNNHyperModel(keras_tuner.HyperModel):
    """Base class of the search spaces: one builder's architecture knobs plus training.

    Subclasses set `builder` (a function of `keras_cnns.models`),
    `reference_model` (the registered network whose family the space
    explores, recorded as `TrainConfig.model`) and implement `architecture`.

    Training hyperparameters (all spaces):

    | name | values | default |
    | --- | --- | --- |
    | `optimizer` | `"sgd"` (Nesterov), `"adamw"` | `"sgd"` |
    | `sgd_learning_rate` | 0.01 to 0.4, log (if sgd) | 0.1 |
    | `sgd_weight_decay` | 1e-5 to 1e-3, log (if sgd) | 5e-4 |
    | `adamw_learning_rate` | 3e-4 to 3e-3, log (if adamw) | 1e-3 |
    | `adamw_weight_decay` | 1e-3 to 0.1, log (if adamw) | 0.05 |
    | `batch_size` | 64, 128, 256 | 128 |
    | `augment_strength` | 0, 0.5, 1, 1.5 (times the dataset's recipe) | 1.0 |

    The schedule is a cosine decay with linear warm-up (as `train`'s
    recipes) over the epochs the trial trains.

    Args:
        input_shape: `(height, width, channels)` of the images.
        classes: Number of classes.
        dataset: Dataset name, for records and for its default augmentation
            recipe (`keras_cnns.data.augment.DEFAULT_RECIPES`).
        epochs: Epochs of a trial when the tuner does not set them
            (Hyperband does).
        augment: The augmentation recipe that strength 1 means: `"default"`
            (the dataset's), a recipe dict, or None for no augmentation.
        normalization: `{"mean", "std"}` to normalize with (as
            `DatasetBundle.normalization`); default: measured on the `x`
            passed to `fit`.
        label_smoothing: Label smoothing of the loss.
        fixed: Dict `name -> value` pinning hyperparameters (e.g.
            `{"optimizer": "sgd", "batch_size": 128}`); the others are searched.
        seed: Seed of the data order and augmentation.
        name: Name of the hypermodel.
    """

    builder = None
    reference_model = None

    def __init__(self, input_shape, classes, *, dataset="custom", epochs=3, augment="default",
                 normalization=None, label_smoothing=0.1, fixed=None, seed=0, name=None):
        super().__init__(name=name or type(self).__name__)
        self.input_shape = _check_input_shape(input_shape)
        if not isinstance(classes, int) or isinstance(classes, bool) or classes < 2:
            raise ValueError(
                f"classes must be an int of at least 2; received classes={classes!r}. Pass the "
                "number of classes of the dataset, e.g. 10."
            )
        self.classes = classes
        self.dataset = dataset
        check_positive_int("epochs", epochs, 3)
        self.epochs = epochs
        self.base_recipe = resolve_recipe(augment, dataset)
        self.normalization = normalization
        self.label_smoothing = label_smoothing
        if fixed is not None and not isinstance(fixed, dict):
            raise ValueError(
                f"fixed must be a dict of hyperparameter name -> value; received {fixed!r}. "
                "Pass for example {'batch_size': 128}."
            )
        self.fixed = dict(fixed or {})
        self.seed = seed
        self._normalization_cache = None

    # --- The space -------------------------------------------------------

    def architecture(self, hp):
        """The builder's keyword arguments for `hp` (JSON-serializable).

        Declares the architecture hyperparameters on `hp`. Subclasses
        implement it.
        """
        raise NotImplementedError

    def training_hyperparameters(self, hp):
        """Declares the training hyperparameters; returns the active values.

        Returns:
            Dict with `optimizer`, `learning_rate`, `weight_decay`,
            `batch_size` and `augment_strength`.
        """
        optimizer = self.choice(hp, "optimizer", OPTIMIZER_CHOICES, "sgd")
        values = {"optimizer": optimizer}
        for name in OPTIMIZER_CHOICES:
            with hp.conditional_scope("optimizer", [name]):
                learning_rate = self.log_float(hp, f"{name}_learning_rate", *LEARNING_RATES[name])
                weight_decay = self.log_float(hp, f"{name}_weight_decay", *WEIGHT_DECAYS[name])
            if name == optimizer:
                values.update(learning_rate=learning_rate, weight_decay=weight_decay)
        values["batch_size"] = self.choice(hp, "batch_size", BATCH_SIZES, 128)
        values["augment_strength"] = self.choice(hp, "augment_strength", AUGMENT_STRENGTHS, 1.0)
        return values

    def declare_hyperparameters(self, hp):
        """Declares the whole space on `hp` (Keras Tuner calls it before the first build)."""
        self.architecture(hp)
        self.training_hyperparameters(hp)

    def train_config(self, hp, epochs=None):
        """The `TrainConfig` of a trial: its network and training hyperparameters.

        Args:
            hp: The trial's `HyperParameters`.
            epochs: Epochs the schedule spans; default `self.epochs`.

        Returns:
            A `TrainConfig` whose `model_kwargs` are the builder's arguments.
        """
        architecture = self.architecture(hp)
        training = self.training_hyperparameters(hp)
        return TrainConfig(
            model=self.reference_model,
            dataset=self.dataset,
            epochs=epochs or self.epochs,
            batch_size=training["batch_size"],
            optimizer=training["optimizer"],
            learning_rate=training["learning_rate"],
            weight_decay=training["weight_decay"],
            schedule="cosine",
            label_smoothing=self.label_smoothing,
            seed=self.seed,
            augment=scaled_recipe(self.base_recipe, training["augment_strength"]),
            model_kwargs=architecture,
        )

    # --- Keras Tuner's hooks -----------------------------------------------

    def build(self, hp):
        """Builds the trial's network (uncompiled: `fit` compiles it).

        Returns:
            A `keras.Model` made by `self.builder`.
        """
        config = self.train_config(hp)
        return build_model(config, self.input_shape, self.classes, model_builder=type(self).builder)

    def fit(self, hp, model, x, y=None, *, validation_data=None, epochs=None, initial_epoch=0,
            callbacks=(), verbose="auto", **kwargs):
        """Compiles and trains a trial's network on in-memory images.

        Args:
            hp: The trial's `HyperParameters`.
            model: The network from `build`.
            x: uint8 images `(N, H, W, C)`, pixels in `[0, 255]`.
            y: Integer labels `(N,)`.
            validation_data: `(x_val, y_val)` in the same form, or None.
            epochs: Last epoch (Keras' meaning); default `self.epochs`.
            initial_epoch: First epoch (Hyperband continues trials).
            callbacks: Keras callbacks (Keras Tuner passes its own).
            verbose: As for `model.fit`.
            **kwargs: Other `search` arguments; refused, since the pipeline
                is made here.

        Returns:
            The `History` of `model.fit`, with `num_params`, `learning_rate`
            and epoch timings in every epoch's logs.

        Raises:
            ValueError: If the images are not raw pixels or the labels do not
                match them.
            keras_cnns.train.TrainingDiverged: If the loss becomes NaN.
        """
        if kwargs:
            raise ValueError(
                f"{type(self).__name__}.fit makes its own tf.data pipelines (batch size and "
                f"augmentation are hyperparameters); it does not take {sorted(kwargs)}. Pass "
                "x, y, validation_data=(x_val, y_val) and epochs to tuner.search."
            )
        epochs = epochs or self.epochs
        x, y = _check_arrays(x, y, "x, y")
        config = self.train_config(hp, epochs=epochs - initial_epoch)
        normalization = self.normalization or self._measured_normalization(x)
        train = make_pipeline(
            x, y, batch_size=config.batch_size, normalization=normalization,
            augmentation=build_augmentation(config.augment, self.input_shape, seed=config.seed),
            shuffle_buffer=len(x), seed=config.seed,
        )
        val = None
        if validation_data is not None:
            x_val, y_val = _check_arrays(*validation_data, "validation_data")
            val = make_pipeline(x_val, y_val, batch_size=config.batch_size, normalization=normalization)
        steps_per_epoch = math.ceil(len(x) / config.batch_size)
        compile_model(model, config, steps_per_epoch=steps_per_epoch)
        fused = fused_batch_norm(model, enabled=use_fused_batch_norm(config.fused_batch_norm))
        # Custom gradients released: else every trial's graphs stay in memory.
        with released_custom_gradients(), fused:
            return fit_passes(model, train, steps_per_epoch, validation_data=val, epochs=epochs,
                              initial_epoch=initial_epoch, verbose=verbose,
                              callbacks=[EpochStats(), ParameterCount(), DivergenceGuard(epochs), *callbacks])

    # --- Declaring hyperparameters, with `fixed` ----------------------------

    def choice(self, hp, name, values, default):
        """`hp.Choice`, or `hp.Fixed` when `name` is in `fixed`."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        return hp.Choice(name, list(values), default=default, ordered=_is_numeric(values))

    def integer(self, hp, name, low, high, default):
        """`hp.Int` over `[low, high]`, or `hp.Fixed` when `name` is in `fixed`."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        if low == high:
            return hp.Fixed(name, low)
        return hp.Int(name, low, high, default=default)

    def log_float(self, hp, name, low, high, default):
        """`hp.Float` on a log scale, or `hp.Fixed` when `name` is in `fixed`."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        return hp.Float(name, low, high, sampling="log", default=default)

    def boolean(self, hp, name, default):
        """`hp.Boolean`, or `hp.Fixed` when `name` is in `fixed`."""
        if name in self.fixed:
            return hp.Fixed(name, self.fixed[name])
        return hp.Boolean(name, default=default)

    def _measured_normalization(self, x):
        key = (id(x), x.shape)
        if self._normalization_cache is None or self._normalization_cache[0] != key:
            self._normalization_cache = (key, compute_normalization(x))
        return self._normalization_cache[1]


class ParameterCount(keras.callbacks.Callback):
    """Adds the model's parameter count (`num_params`) to every epoch's logs."""

    def on_train_begin(self, logs=None):
        self._count = float(self.model.count_params())

    def on_epoch_end(self, epoch, logs=None):
        logs["num_params"] = self._count


def search_space(hypermodel):
    """The whole search space of a hypermodel, as Keras Tuner `HyperParameters`.

    Example:

    ```python
    for hp in search_space(ResNetHyperModel((28, 28, 1), 10)).space:
        print(hp.name, hp.get_config())
    ```
    """
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    return hp


def sample_hyperparameters(hypermodel, count, seed=0):
    """Draws `count` random points of the space (active values only).

    Each point follows the conditions: a hyperparameter gets a value only
    when its parents' values make it active, as Keras Tuner's random search
    draws them.

    Args:
        hypermodel: A `CNNHyperModel`.
        count: Number of points.
        seed: Seed of the draws.

    Returns:
        A list of `HyperParameters` with values set.
    """
    space = search_space(hypermodel).space
    points = []
    for index in range(count):
        hp = keras_tuner.HyperParameters()
        for number, parameter in enumerate(space):
            hp.merge([parameter])
            if hp.is_active(parameter):
                hp.values[parameter.name] = parameter.random_sample(seed * 1_000_003 + index * 1009 + number)
        points.append(hp)
    return points


def scaled_recipe(recipe, strength):
    """An augmentation recipe with every strength multiplied by `strength`.

    Strength 0 turns augmentation off, 1 keeps the recipe; paddings are
    rounded to whole pixels, flips stay on for any positive strength, and
    fractions stay below 1 (probabilities at most 1).

    Args:
        recipe: A validated recipe dict, or None.
        strength: A number `>= 0`.

    Returns:
        A recipe dict, or None for no augmentation.
    """
    if not recipe or strength == 0:
        return None
    scaled = {}
    for key, value in recipe.items():
        if key == "flip":
            scaled[key] = value
        elif key == "crop_padding":
            scaled[key] = int(round(value * strength))
        elif key == "erasing":
            scaled[key] = min(1.0, value * strength)
        else:
            scaled[key] = min(0.95, value * strength)
    return {key: value for key, value in scaled.items() if value} or None


@contextlib.contextmanager
def at_least(hp, parent, value, low, high):
    """A conditional scope "integer `parent` is at least `value`" (none when `value <= low`).

    Example: the blocks of stage 3 exist when `num_stages >= 3`.
    """
    if value <= low:
        yield
        return
    with hp.conditional_scope(parent, list(range(value, high + 1))):
        yield


def check_subset(name, values, allowed):
    """`values` as a tuple; raises unless it is a non-empty subset of `allowed`."""
    values = tuple(values)
    unknown = [v for v in values if v not in allowed]
    if not values or unknown:
        raise ValueError(
            f"{name} must be a non-empty subset of {list(allowed)}; received {list(values)}."
        )
    return values


def closest(values, target):
    """The entry of `values` closest to `target` (a default that is always a choice)."""
    return min(values, key=lambda v: abs(v - target))


def _is_numeric(values):
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _check_input_shape(input_shape):
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else None
    if shape is None or len(shape) != 3 or not all(
            isinstance(d, (int, np.integer)) and d > 0 for d in shape):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive ints; received "
            f"{input_shape!r}. Pass the image shape of the dataset, e.g. (28, 28, 1)."
        )
    return tuple(int(d) for d in shape)


def _check_arrays(x, y, what):
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(
            f"The search trains on in-memory images so that batch size and augmentation can be "
            f"tuned: {what} must be a (N, H, W, C) array of raw pixels; received "
            f"{type(x).__name__}{getattr(x, 'shape', '')}. Pass arrays such as "
            "keras_cnns.data.load_arrays(...).train."
        )
    if np.issubdtype(x.dtype, np.floating) and x.size and float(np.max(x)) <= 1.0:
        raise ValueError(
            f"{what} look normalized (float pixels, at most {float(np.max(x)):.3g}); the search "
            "normalizes itself and expects raw pixels in [0, 255]. Pass the uint8 images."
        )
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"{what}: the labels must be a 1-D array with one label per image; received "
            f"{len(x)} images and labels of shape {y.shape}."
        )
    return x, y.astype(np.int32)

"""`TrainConfig`: everything that defines a training run, and default recipes.

A config is plain data: it round-trips through JSON (`to_dict` /
`from_dict`), is saved as `config.json` in the run directory, and is checked
field by field when a run is resumed, so that two different runs never mix in
one directory.
"""

import dataclasses
import os
import re

from keras_cnns.registry import model_info
from keras_cnns.train.fused_batch_norm import FUSED_BATCH_NORM_MODES, use_fused_batch_norm
from keras_cnns.validation import check_choice, check_int, check_number, check_positive_int

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "onecycle", "step", "constant")
MIXED_PRECISION_MODES = ("auto", "off", "on", "bfloat16")
JIT_COMPILE_MODES = ("auto", True, False)
# Set by the trainer from the dataset; a config may not override them.
RESERVED_MODEL_KWARGS = ("input_shape", "classes", "input_tensor", "include_top")
# Fields that may differ between a saved run and the config that resumes it:
# they say where things are, not what the run is.
LOCATION_FIELDS = ("out_dir", "data_dir")
RUNS_ROOT = "runs"
DEFAULT_WARMUP_EPOCHS = 2
# Test-time augmentation's views (keras_cnns.train.tta), each (flip, (dy, dx)): the image and its mirror
# image; and those two also moved one pixel up-left and one down-right.
TTA_VIEWS = {
    "flip": ((False, (0, 0)), (True, (0, 0))),
    "flip_shift": tuple((flip, shift) for shift in ((0, 0), (-1, -1), (1, 1)) for flip in (False, True)),
}

# Starting points per model family (see `default_config`); not tuned results.
# "sgd" is SGD with Nesterov momentum 0.9.
_SGD_RECIPE = dict(optimizer="sgd", learning_rate=0.1, weight_decay=5e-4,
                   schedule="cosine", warmup_epochs=2, label_smoothing=0.1)
FAMILY_RECIPES = {
    "resnet": _SGD_RECIPE,
    "resnet_cifar": _SGD_RECIPE,
    "allconv": dict(optimizer="sgd", learning_rate=0.05, weight_decay=5e-4,
                    schedule="cosine", warmup_epochs=2, label_smoothing=0.1),
    "lenet": dict(optimizer="adam", learning_rate=1e-3, weight_decay=0.0,
                  schedule="cosine", warmup_epochs=1, label_smoothing=0.0),
}
# Families without an entry: AdamW, which is forgiving for networks without
# batch norm (VGG, AlexNet, NiN, GoogLeNet as the papers built them).
GENERIC_RECIPE = dict(optimizer="adamw", learning_rate=1e-3, weight_decay=0.05,
                      schedule="cosine", warmup_epochs=2, label_smoothing=0.1)
# Epochs per dataset; other datasets get DEFAULT_EPOCHS.
DATASET_EPOCHS = {"digits": 15, "mnist": 15, "fashion_mnist": 30, "cifar10": 60, "cifar100": 60}
DEFAULT_EPOCHS = 30


@dataclasses.dataclass
class TrainConfig:
    """What to train, on what, and how.

    Weight decay: for `"sgd"` and `"adam"` it is the classic coupled L2
    penalty on convolution and dense kernels: `weight_decay / 2 * ||w||^2` is
    added to the loss, so the gradient gains `weight_decay * w` (the meaning
    of `weight_decay` in PyTorch's SGD and in the papers' SGD recipes; biases
    and batch-norm parameters are not decayed). For `"adamw"` it is AdamW's
    decoupled decay (`w -= learning_rate * weight_decay * w` each step), also
    skipping biases and batch-norm parameters.

    Attributes:
        model: Registered model name (`keras_cnns.list_models()`).
        dataset: Dataset name or image-folder path, as for `load_dataset`.
        epochs: Total number of epochs of the run (a resumed run ends here too).
        batch_size: Global batch size (split across replicas by a strategy).
        optimizer: `"sgd"` (SGD, Nesterov momentum 0.9), `"adam"` or `"adamw"`.
        learning_rate: Peak learning rate of the schedule.
        weight_decay: See above; 0 turns it off.
        lr_batch_size: None, or the batch size `learning_rate` was set
            for: another `batch_size` then scales the learning rate
            linearly (`schedules.peak_learning_rate`), and weight decay
            keeps its effect per epoch. Recipes set it, so that
            `--batch-size` alone changes them correctly.
        batch_norm_momentum: None (each layer's own, Keras' 0.99), or the
            momentum of every batch-norm layer's moving statistics, in
            `[0, 1)`: a short run needs a lower one (e.g. 0.9, airbench's
            0.6) for the statistics to follow weights that move fast. Warns
            when the network has no batch norm.
        norm_bias_lr_scale: How many times faster than `learning_rate` the
            normalization layers' biases (`beta`) learn, above 0; 1 (the
            default) is one rate for all. airbench uses 64 for its batch-norm
            biases. SGD only (`optimization.NormBiasScaledSGD`). A run says
            how many biases it scales, and warns when the network has none.
        dirac_init: Start every 3x3 (or larger, odd) convolution after the
            first with identity filters: its first `min(in, out)` filters
            pass their input channel through (airbench's Dirac
            initialisation), the rest keep their initialisation. Warns when
            the network has no such convolution.
        schedule: `"cosine"` (linear warm-up, then cosine decay to 0),
            `"onecycle"` (cosine rise over `warmup_epochs`, or 30% of training
            when that is 0, then cosine decay), `"step"` (linear warm-up, then
            x0.1 at 50% and 75% of training) or `"constant"` (linear warm-up,
            then constant).
        warmup_epochs: Epochs of linear warm-up (may be fractional); default
            `min(2, epochs / 5)`.
        label_smoothing: Label smoothing of the cross-entropy, in `[0, 1)`.
        ema_decay: None, or the decay in `(0, 1)` of an exponential moving
            average of the weights (Keras' `use_ema`; e.g. 0.99, about the
            last 100 steps): validation, `best.keras` and the test accuracy
            then use the averaged weights (`callbacks.WeightAveraging`).
            The batch-norm moving statistics are averaged alongside, with
            the same decay (Keras averages only the trainable variables).
        lookahead_steps: None, or Lookahead's `k` (e.g. 5): every that
            many steps the slow weights move `lookahead_alpha` of the way
            to the trained ones and training goes on from them
            (`callbacks.Lookahead`).
        lookahead_alpha: Lookahead's step size, in `(0, 1]` (0.5).
        tta: None, or test-time augmentation's views (`"flip"`,
            `"flip_shift"`; `keras_cnns.train.tta`) for the run's model:
            its test accuracy in `metrics.json`, `evaluate` and `export`
            then use the network wrapped in those views (training does
            not change).
        whiten_first_conv: Before the first epoch, set the network's first
            convolution to whiten the patches of 5,000 training images
            (`keras_cnns.train.whitening`); it trains on from there.
        mixed_precision: `"auto"` (mixed_float16 where a GPU is present,
            mixed_bfloat16 on the TensorFlow backend on a CPU with
            AVX512_BF16 or AMX, else float32), `"on"` (mixed_float16),
            `"bfloat16"` (mixed_bfloat16: for GPUs, TPUs and CPUs with
            bfloat16 instructions; refused on a CPU-only machine without
            them) or `"off"`. See `keras_cnns.train.precision`; evaluation
            and export use a float32 copy of the trained network.
        jit_compile: `"auto"` (Keras' rule: XLA off on CPU-only TensorFlow
            machines, where it made a small CNN ~1.7x slower per epoch),
            `True` or `False`.
        fused_batch_norm: `"auto"` (on the TensorFlow backend, batch norm
            layers train with TensorFlow's fused kernel: the same function
            and saved model, and 39-43% less time a training step for the
            main job's network on an Intel Xeon with AMX (one run);
            `keras_cnns.train.fused_batch_norm`), `True`
            (the same, refused on another backend) or `False` (Keras's own).
        seed: Seed for weights, data splits, shuffling and augmentation.
        validation_split: Share of the training pool held out for validation,
            in `[0, 1)`. With 0, the best checkpoint follows training accuracy.
        augment: `"default"`, `None`, another dataset's recipe name, or a
            recipe dict (see `keras_cnns.data.augment`).
        limit: Optional cap on the training pool, for quick runs.
        model_kwargs: Extra keyword arguments for `get_model`, e.g.
            `{"batch_norm": True, "width_multiplier": 0.5}`.
        data_dir: Where the dataset lives, as for `load_dataset`.
        out_dir: Run directory; default `runs/<model>-<dataset>`.
        image_size: `[height, width]` (or an int, for square images) to
            resize every split to; None keeps the dataset's own size, resized
            up to the model's minimum input size where it is smaller.
            Required for datasets whose images vary in size (e.g. many
            TensorFlow Datasets sets). At least the network's minimum (its
            builder says which when it is too small).
        skip_bad_files: For image folders: leave corrupt and non-image files
            out with a warning instead of stopping before training.
        classes: Optional class labels or names to keep, relabelled 0, 1,
            ... in that order (`load_dataset(classes=...)`), e.g.
            `[5, 6, 7, 8, 9]`; None keeps every class.

    Example:

    ```python
    config = TrainConfig(model="resnet20", dataset="fashion_mnist", epochs=30)
    same = TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    ```
    """

    model: str
    dataset: str = "fashion_mnist"
    epochs: int = DEFAULT_EPOCHS
    batch_size: int = 128
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    weight_decay: float = 5e-4
    lr_batch_size: object = None
    batch_norm_momentum: object = None
    norm_bias_lr_scale: float = 1.0
    dirac_init: bool = False
    schedule: str = "cosine"
    warmup_epochs: object = None
    label_smoothing: float = 0.1
    ema_decay: object = None
    lookahead_steps: object = None
    lookahead_alpha: float = 0.5
    tta: object = None
    whiten_first_conv: bool = False
    mixed_precision: str = "auto"
    jit_compile: object = "auto"
    fused_batch_norm: object = "auto"
    seed: int = 0
    validation_split: float = 0.1
    augment: object = "default"
    limit: object = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    data_dir: object = None
    out_dir: object = None
    classes: object = None
    image_size: object = None
    skip_bad_files: bool = False

    def __post_init__(self):
        _check_model(self.model)
        _check_dataset(self.dataset)
        check_positive_int("epochs", self.epochs, "30")
        check_positive_int("batch_size", self.batch_size, "128")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("mixed_precision", self.mixed_precision, MIXED_PRECISION_MODES)
        check_choice("jit_compile", self.jit_compile, JIT_COMPILE_MODES)
        check_choice("fused_batch_norm", self.fused_batch_norm, FUSED_BATCH_NORM_MODES)
        if self.fused_batch_norm is True:
            use_fused_batch_norm(True)  # Raises on a backend other than TensorFlow.
        check_number("learning_rate", self.learning_rate, low=0, low_inclusive=False,
                      example="0.1 for SGD or 1e-3 for Adam")
        check_number("weight_decay", self.weight_decay, low=0, example="5e-4, or 0 for none")
        if self.lr_batch_size is not None:
            check_positive_int("lr_batch_size", self.lr_batch_size,
                               "256 (the batch size learning_rate was set for), or None for no scaling")
        if self.batch_norm_momentum is not None:
            check_number("batch_norm_momentum", self.batch_norm_momentum, low=0, high=1,
                         example="0.9, or None for each layer's own")
        check_number("norm_bias_lr_scale", self.norm_bias_lr_scale, low=0, low_inclusive=False,
                     example="8 (batch-norm biases learn 8 times faster), or 1 for one rate for all")
        if self.norm_bias_lr_scale != 1 and self.optimizer != "sgd":
            raise ValueError(
                f"norm_bias_lr_scale={self.norm_bias_lr_scale!r} needs optimizer='sgd' (the faster biases are an "
                f"SGD's, NormBiasScaledSGD; there is no {self.optimizer!r} form); received "
                f"optimizer={self.optimizer!r}. Use optimizer='sgd', or norm_bias_lr_scale=1 with {self.optimizer!r}."
            )
        check_number("label_smoothing", self.label_smoothing, low=0, high=1,
                      example="0.1, or 0 for none")
        if self.ema_decay is not None:
            check_number("ema_decay", self.ema_decay, low=0, low_inclusive=False,
                         example="0.99 (about the last 100 steps), or None for no averaging")
            if not self.ema_decay < 1:
                raise ValueError(f"ema_decay must be below 1 (1 would never move the average); received "
                                 f"{self.ema_decay!r}. Pass for example 0.99, or None for no averaging.")
        if self.lookahead_steps is not None:
            check_positive_int("lookahead_steps", self.lookahead_steps, "5, or None for no lookahead")
        check_number("lookahead_alpha", self.lookahead_alpha, low=0, high=1, low_inclusive=False,
                     high_inclusive=True, example="0.5")
        if self.tta is not None:
            check_choice("tta", self.tta, tuple(TTA_VIEWS))
        check_number("validation_split", self.validation_split, low=0, high=1,
                      example="0.1, or 0 for no validation split")
        if self.warmup_epochs is None:
            self.warmup_epochs = min(DEFAULT_WARMUP_EPOCHS, self.epochs / 5)
        check_number("warmup_epochs", self.warmup_epochs, low=0, example="2, or 0 for none")
        _check_warmup_fits(self.warmup_epochs, self.epochs)
        check_int("seed", self.seed)
        if self.limit is not None:
            check_positive_int("limit", self.limit, "1000, or None for all examples")
        _check_augment(self.augment, self.dataset)
        self.classes = _checked_classes(self.classes)
        self.model_kwargs = _checked_model_kwargs(self.model_kwargs)
        self.image_size = _checked_image_size(self.image_size)
        for flag in ("whiten_first_conv", "dirac_init"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False; received {getattr(self, flag)!r}.")
        if not isinstance(self.skip_bad_files, bool):
            raise ValueError(
                f"skip_bad_files must be True or False; received {self.skip_bad_files!r}."
            )
        for field in LOCATION_FIELDS:
            _check_optional_path(field, getattr(self, field))
        if self.out_dir is None:
            self.out_dir = default_out_dir(self.model, self.dataset)
        self.out_dir = os.fspath(self.out_dir)
        if self.data_dir is not None:
            self.data_dir = os.fspath(self.data_dir)

    def to_dict(self):
        """The config as a JSON-serializable dict (a deep copy)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        """Builds a config from `to_dict()` output (e.g. a loaded config.json).

        Raises:
            ValueError: If `data` is not a dict, has unknown keys or lacks
                `model`, or a value is invalid.
        """
        if not isinstance(data, dict):
            raise ValueError(
                f"A TrainConfig dict must be a dict; received {type(data).__name__}. "
                "Pass the output of TrainConfig.to_dict() or a loaded config.json."
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"Unknown TrainConfig field(s) {unknown}. Valid fields are "
                f"{sorted(known)}; remove or rename the others."
            )
        if "model" not in data:
            raise ValueError(
                f"A TrainConfig dict needs a 'model' entry; received keys "
                f"{sorted(data)}. Add e.g. 'model': 'resnet20'."
            )
        return cls(**data)

    def identity(self):
        """The fields that define the run: `to_dict()` without `LOCATION_FIELDS`."""
        data = self.to_dict()
        for field in LOCATION_FIELDS:
            data.pop(field)
        return data


def default_config(model, dataset="fashion_mnist", **overrides):
    """A sensible starting recipe for `model` on `dataset`.

    The optimizer, learning rate, weight decay, schedule, warm-up and label
    smoothing come from the model family (`FAMILY_RECIPES`, else
    `GENERIC_RECIPE`): e.g. ResNets get SGD with Nesterov momentum, learning
    rate 0.1, weight decay 5e-4, cosine decay after 2 warm-up epochs and label
    smoothing 0.1; LeNet-5 gets Adam at 1e-3. Epochs come from the dataset
    (`DATASET_EPOCHS`).

    Args:
        model: Registered model name.
        dataset: Dataset name or image-folder path.
        **overrides: Any `TrainConfig` field, applied last.

    Returns:
        A `TrainConfig`.

    Raises:
        ValueError: If the model is unknown or an override is invalid.

    Example:

    ```python
    config = default_config("resnet20", "fashion_mnist", epochs=10, out_dir="runs/r20")
    ```
    """
    family = model_info(model).family
    recipe = dict(FAMILY_RECIPES.get(family, GENERIC_RECIPE))
    recipe["epochs"] = DATASET_EPOCHS.get(_dataset_slug(dataset), DEFAULT_EPOCHS)
    unknown = sorted(set(overrides) - {field.name for field in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(
            f"Unknown TrainConfig field(s) {unknown} in the overrides of "
            "default_config. Pass only TrainConfig fields."
        )
    recipe.update(overrides)
    epochs = recipe["epochs"]
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1:
        # Short runs keep at most a fifth of their epochs for warm-up.
        recipe["warmup_epochs"] = overrides.get(
            "warmup_epochs", min(recipe["warmup_epochs"], epochs / 5)
        )
    return TrainConfig(model=model, dataset=dataset, **recipe)


def config_differences(saved, new):
    """`"field: saved X, new Y"` for each field whose value differs between two config dicts, sorted."""
    return [f"{field}: saved {saved.get(field)!r}, new {new.get(field)!r}"
            for field in sorted(set(saved) | set(new)) if saved.get(field) != new.get(field)]


def with_field_defaults(data):
    """A saved config dict with the fields it lacks filled in by their defaults.

    A `config.json` written before a field was added to `TrainConfig` (e.g.
    `image_size`, `skip_bad_files`) ran with that field's default, so it is
    compared with a new config as if it said so.
    """
    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)
                if field.default is not dataclasses.MISSING}
    return {**{key: value for key, value in defaults.items() if key not in data}, **data}


def default_out_dir(model, dataset):
    """`runs/<model>-<dataset>`, with the dataset reduced to a safe file name."""
    return os.path.join(RUNS_ROOT, f"{model}-{_dataset_slug(dataset)}")


def _dataset_slug(dataset):
    name = os.path.basename(os.path.normpath(os.fspath(dataset)))
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "dataset"


def _check_model(model):
    if not isinstance(model, str):
        raise ValueError(
            f"model must be a registered model name; received {model!r}. "
            "keras_cnns.list_models() lists them."
        )
    model_info(model)  # Raises with close matches for unknown names.


def _check_dataset(dataset):
    if not isinstance(dataset, (str, os.PathLike)) or not os.fspath(dataset):
        raise ValueError(
            f"dataset must be a dataset name or an image-folder path; received "
            f"{dataset!r}. Pass for example 'fashion_mnist' or 'digits'."
        )


def _check_warmup_fits(warmup_epochs, epochs):
    if warmup_epochs >= epochs:
        raise ValueError(
            f"warmup_epochs ({warmup_epochs}) must be smaller than epochs ({epochs}), "
            "or the learning rate would never leave its warm-up. Lower "
            "warmup_epochs or raise epochs."
        )


def _check_augment(augment, dataset):
    from keras_cnns.data.augment import resolve_recipe  # Keras' preprocessing layers: imported when needed.

    if augment is not None and not isinstance(augment, (str, dict)):
        raise ValueError(
            f"augment must be None, 'default', a dataset's recipe name or a "
            f"recipe dict; received {augment!r}."
        )
    resolve_recipe(augment, _dataset_slug(dataset))  # Raises on bad names and dicts.


def _checked_classes(classes):
    if classes is None:
        return None
    if isinstance(classes, (str, bytes)) or not isinstance(classes, (list, tuple)) or not classes or any(
        isinstance(item, bool) or not isinstance(item, (int, str)) for item in classes
    ):
        raise ValueError(
            f"classes must be None or a non-empty list of class labels (ints) or names; received "
            f"{classes!r}. Pass for example [5, 6, 7, 8, 9]."
        )
    return list(classes)


def _checked_image_size(image_size):
    """`image_size` as `[height, width]` (JSON-friendly), or None.

    Not checked against the model's minimum here: knobs in `model_kwargs`
    (e.g. VGG's `pool_padding`) change it, and the builder's own error names
    the minimum that applies.
    """
    if image_size is None:
        return None
    size = [image_size, image_size] if isinstance(image_size, int) else image_size
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in size)):
        raise ValueError(
            f"image_size must be None, a positive int or [height, width]; received "
            f"{image_size!r}. Pass for example 32 or [224, 224]."
        )
    return [int(d) for d in size]


def _checked_model_kwargs(model_kwargs):
    if model_kwargs is None:
        return {}
    if not isinstance(model_kwargs, dict):
        raise ValueError(
            f"model_kwargs must be a dict of get_model keyword arguments; "
            f"received {model_kwargs!r}. Pass for example {{'batch_norm': True}}."
        )
    reserved = sorted(set(model_kwargs) & set(RESERVED_MODEL_KWARGS))
    if reserved:
        raise ValueError(
            f"model_kwargs may not set {reserved}: the trainer sets them from "
            "the dataset (input shape, number of classes). Remove them; use "
            "image_size to change the input's size."
        )
    return dict(model_kwargs)


def _check_optional_path(field, value):
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{field} must be a path or None; received {value!r}.")

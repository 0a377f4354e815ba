"""Where an export's model and data come from: a `keras.Model`, a `.keras` file or a run directory.

From a run directory (or a `best.keras` beside its `config.json` and
`metrics.json`), everything is taken from the run: the model, its class
names and input normalization (`metrics.json`), and its dataset reloaded
exactly as in training (`keras_cnns.train.trainer.load_run_arrays`):
calibration images drawn at random from the training split, verification
images from the test split, the validation split for the temperature, the
test images as loaded (before any resize, for the mobile files, which take
what a user has) and the dataset's look (`keras_cnns.inference.photos`).
Explicit arguments override what the run says.
"""

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf

from keras_cnns.data.preprocessing import denormalize, normalize
from keras_cnns.export.tflite import take_images
from keras_cnns.inference.photos import DatasetLook, measure_dataset_look
from keras_cnns.registry import model_info
from keras_cnns.train.config import TrainConfig
from keras_cnns.train.precision import float32_model
from keras_cnns.train.run_dir import locate_run
from keras_cnns.train.trainer import load_best_model, load_run_arrays

# Training images measured for the dataset's look.
LOOK_IMAGES = 2000


@dataclasses.dataclass
class ExportSource:
    """A model to export and what is known about it.

    Attributes:
        model: The Keras model.
        description: How it was given (a path, or the model's name).
        class_names: Class names, or None.
        normalization: `{"mean", "std"}` of its inputs, or None (raw pixels).
        architecture: Card facts about the network.
        dataset: Card facts about the dataset, or None.
        calibration: Calibration images (model input scale), or None.
        test_images: Verification images (model input scale), or None.
        test_labels: Their labels, or None.
        test_origin: Where the verification images came from, in words.
        test_pixels: The verification images as a user holds them: uint8
            pixels at the dataset's own size, or None.
        validation: `(images, labels)` of the validation split (model
            input scale), or None.
        look: The dataset's `DatasetLook`, or None (natural images, or
            unknown).
        tta: The run's test-time augmentation (`TrainConfig.tta`), or None.
    """

    model: object
    description: str
    class_names: list = None
    normalization: dict = None
    architecture: dict = None
    dataset: dict = None
    calibration: object = None
    test_images: object = None
    test_labels: object = None
    test_origin: str = None
    test_pixels: object = None
    validation: object = None
    look: object = None
    tta: object = None


def resolve_source(model, *, labels=None, normalization=None, representative_data=None, test_data=None,
                   calibration_size=None, need_calibration=False, need_test=False, look="auto", verbose=0):
    """Turns `export_model`'s `model` argument and data arguments into an `ExportSource`.

    Args:
        model: A `keras.Model`, a run directory, or a `.keras` file path.
        labels, normalization, representative_data, test_data: As for
            `export_model`; given values win over the run's.
        calibration_size: Calibration images to draw at random from a run's training split.
        need_calibration: Load calibration images from the run if not given.
        need_test: Load test images from the run if not given.
        look: `"auto"` (measure the dataset's look from its training
            images), a `DatasetLook`, or None (no photo preparation).
        verbose: Print a line when a dataset is loaded.

    Raises:
        FileNotFoundError: If a path holds no model.
        ValueError: If the model has several outputs, or the run's recorded
            normalization differs from its reloaded dataset's.
    """
    saved = None
    if isinstance(model, keras.Model):
        description = model.name
        model = float32_model(model)  # A mixed-precision network is exported (and verified) in float32.
    elif isinstance(model, (str, os.PathLike)):
        description = os.fspath(model)
        saved = locate_run(description)
        model = load_best_model(saved.model_path)
    else:
        raise ValueError(
            f"model must be a keras.Model, a run directory or a .keras file; received "
            f"{type(model).__name__}. Pass for example 'runs/resnet20-fashion_mnist'."
        )
    if len(model.outputs) != 1:
        raise ValueError(
            f"{model.name} has {len(model.outputs)} outputs; export_model exports single-output "
            "classifiers. Build it without auxiliary outputs (e.g. include_aux=False)."
        )
    source = ExportSource(model=model, description=description, architecture=architecture_of(model))
    config = metrics = None
    if saved is not None and saved.run_dir is not None:
        config = TrainConfig.from_dict(saved.config) if saved.config else None
        metrics = saved.metrics
        source.class_names = metrics.get("class_names")
        source.normalization = metrics.get("normalization")
        if config is not None:
            source.tta = config.tta
            source.architecture = architecture_of(model, config)
            source.dataset = _dataset_facts(config, metrics, saved.run_dir)
    if labels is not None:
        source.class_names = list(labels)
    if normalization is not None:
        source.normalization = normalization
    if representative_data is not None:
        source.calibration = representative_data
    if test_data is not None:
        source.test_images, source.test_labels = take_examples(test_data)
        source.test_origin = "the test_data passed to export_model"
    wants_calibration = need_calibration and source.calibration is None
    wants_test = need_test and source.test_images is None
    if config is not None and (wants_calibration or wants_test or look == "auto"):
        _load_run_data(source, config, metrics, calibration_size, wants_calibration, wants_test,
                       look == "auto", verbose)
    if isinstance(look, DatasetLook) or look is None:
        source.look = look
    elif look != "auto":
        raise ValueError(f"look must be 'auto', a DatasetLook or None; received {look!r}.")
    elif config is None and source.normalization is not None and source.calibration is not None:
        source.look = measure_dataset_look(_as_pixels(take_images(source.calibration), source.normalization))
    if source.test_pixels is None and source.test_images is not None and source.normalization is not None:
        source.test_pixels = _as_pixels(source.test_images, source.normalization)
    return source


def take_examples(data):
    """`(images, labels)` as float32 / int numpy from a tuple, an array or a `tf.data.Dataset`.

    Returns:
        `(images, labels)`; labels None when `data` has none.
    """
    if isinstance(data, tf.data.Dataset):
        images, labels = [], []
        for element in data:
            if isinstance(element, (tuple, list)):
                images.append(np.asarray(element[0], np.float32))
                labels.append(np.asarray(element[1]).reshape(-1))
            else:
                images.append(np.asarray(element, np.float32))
        if not images:
            raise ValueError("test_data is an empty dataset; pass held-out images to verify the export on.")
        return np.concatenate(images), (np.concatenate(labels) if labels else None)
    if isinstance(data, tuple) and len(data) == 2:
        images, labels = data
        images = take_images(images)
        labels = None if labels is None else np.asarray(labels).reshape(-1)
        if labels is not None and len(labels) != len(images):
            raise ValueError(
                f"test_data has {len(images)} images but {len(labels)} labels; pass (images, labels) "
                "of equal length."
            )
        return images, labels
    return take_images(data), None


def architecture_of(model, config=None):
    """Card facts about the network: registered name, family, paper, builder knobs, size."""
    name = config.model if config is not None else model.name
    facts = {"model": name, "keras_model_name": model.name, "num_params": int(model.count_params())}
    try:
        info = model_info(name)
    except ValueError:
        return facts
    facts.update(family=info.family, paper=info.paper, year=info.year)
    if config is not None:
        facts["model_kwargs"] = dict(config.model_kwargs)
    return facts


def output_activation(model):
    """Name of the activation of the model's last layer (`"softmax"` for a classifier).

    A model wrapped in test-time augmentation averages its classifier's
    outputs: probabilities stay probabilities, so it is its classifier's.
    """
    from keras_cnns.train.tta import tta_views_of, wrapped_classifier

    if tta_views_of(model) is not None:
        return output_activation(wrapped_classifier(model))
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _dataset_facts(config, metrics, run_dir):
    return {
        "name": config.dataset,
        "image_shape": metrics.get("image_shape"),
        "num_train": metrics.get("num_train"),
        "num_val": metrics.get("num_val"),
        "num_test": metrics.get("num_test"),
        "keras_test_accuracy_in_training_run": metrics.get("test_accuracy"),
        "training_recipe": {key: value for key, value in config.to_dict().items()
                            if key not in ("out_dir", "data_dir")},
        "run_dir": os.fspath(run_dir),
    }


def _load_run_data(source, config, metrics, calibration_size, wants_calibration, wants_test, wants_look, verbose):
    if verbose:
        print(f"keras_cnns.export: loading {config.dataset} as in training", flush=True)
    image_shape = tuple(int(dim) for dim in source.model.input_shape[1:])
    loaded, arrays = load_run_arrays(config, image_shape=image_shape, verbose=0)
    recorded = metrics.get("normalization")
    if recorded is not None and not _same_normalization(recorded, arrays.normalization):
        raise ValueError(
            f"The run's metrics.json records input normalization {recorded}, but its dataset "
            f"{config.dataset!r} reloads with {arrays.normalization}: the data changed since "
            "training. Pass test_data= and representative_data= prepared as in training."
        )
    if source.normalization is None:
        source.normalization = arrays.normalization
    if source.class_names is None:
        source.class_names = list(arrays.class_names)
    train_pixels = arrays.train[0]
    if wants_calibration:
        picked = np.sort(np.random.default_rng(config.seed).choice(
            len(train_pixels), size=min(calibration_size, len(train_pixels)), replace=False))
        source.calibration = normalize(train_pixels[picked], arrays.normalization)
    if wants_test:
        source.test_images = normalize(arrays.test[0], arrays.normalization)
        source.test_labels = np.asarray(arrays.test[1]).reshape(-1)
        source.test_pixels = loaded.test[0]
        source.test_origin = "the run's test split, prepared as in training"
    if arrays.val is not None and len(arrays.val[1]):
        source.validation = (normalize(arrays.val[0], arrays.normalization), np.asarray(arrays.val[1]).reshape(-1))
    if wants_look:
        source.look = measure_dataset_look(loaded.train[0], sample=LOOK_IMAGES, seed=config.seed)


def _as_pixels(images, normalization):
    """Model inputs back to uint8 pixels, as a user holds them."""
    return np.clip(np.rint(denormalize(images, normalization)), 0, 255).astype(np.uint8)


def sample_images(dataset, num_images, count, seed=0):
    """`count` images at random positions of one pass over a finite dataset of `num_images` images.

    The int8 calibration set of a run. Not its first `count` images: a run's
    training split keeps the order of its source (an image folder's is
    sorted by class), and a shuffle buffer smaller than the split mixes only
    its beginning, so the first images may miss whole classes.

    Args:
        dataset: A `tf.data.Dataset` of `(images, labels)` batches.
        num_images: How many images one pass yields.
        count: How many to draw (all if fewer).
        seed: Seed of the draw.

    Returns:
        float32 array `(min(count, num_images), H, W, C)`.
    """
    wanted = np.sort(np.random.default_rng(seed).choice(num_images, size=min(count, num_images), replace=False))
    picked, start = [], 0
    for images, _ in dataset:
        stop = start + len(images)
        inside = wanted[(wanted >= start) & (wanted < stop)] - start
        if len(inside):
            picked.append(np.asarray(images, dtype=np.float32)[inside])
        start = stop
        if start > wanted[-1]:
            break
    return np.concatenate(picked)


def _same_normalization(first, second, tolerance=1e-5):
    return all(np.allclose(first[key], second[key], atol=tolerance) for key in ("mean", "std"))

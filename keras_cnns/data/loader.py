"""`load_dataset`: one call from a dataset name or folder to ready pipelines."""

import dataclasses

import numpy as np

from keras_cnns.data import folders, sources
from keras_cnns.validation import check_positive_int
from keras_cnns.data.augment import alternates_flips, build_augmentation, resolve_recipe
from keras_cnns.data.pipeline import make_pipeline
from keras_cnns.data.preprocessing import (
    compute_normalization,
    convert_channels,
    resize_images,
    standardize_image_size,
)
from keras_cnns.data.splits import (
    STREAM_LIMIT,
    STREAM_TEST,
    STREAM_VALIDATION,
    holdout_split,
    stratified_sample,
)

# Sources without a test split (digits, folders without test/) hold out this
# share of their examples as the test set.
TEST_FRACTION = 0.2
# The test holdout ignores `seed`, so runs with different seeds are evaluated
# on the same images.
TEST_SPLIT_SEED = 0


@dataclasses.dataclass(frozen=True)
class DatasetBundle:
    """Pipelines and facts about one loaded dataset.

    Attributes:
        train: Shuffled, augmented `tf.data.Dataset` of `(images, labels)`:
            float32 `(B, H, W, C)` normalized images and int32 `(B,)` labels.
        val: Same without shuffling or augmentation, or None when there is no
            validation split.
        test: Same as `val`, for the test split.
        class_names: Class names, indexed by label.
        image_shape: `(H, W, C)` of the produced images.
        normalization: `{"mean": [...], "std": [...]}`, per channel, measured
            on the (un-augmented) training split in `[0, 1]` pixel scale;
            images are `(pixels / 255 - mean) / std` (see `normalize`).
        num_train: Number of training examples.
        num_val: Number of validation examples (0 without a validation split).
        num_test: Number of test examples.
        name: Dataset name (the folder name for image folders).
        augmentation: The recipe applied to training batches, or None.
        training_stream: `training_stream(first_pass=0)`: the training
            batches of every pass from `first_pass` on, without end (what
            `train` fits on, with `steps_per_epoch`); the passes are
            numbered, so flips that alternate by epoch stay in step when a
            run resumes. None for bundles built by hand (`train` repeats
            `train` then).
    """

    train: object
    val: object
    test: object
    class_names: list
    image_shape: tuple
    normalization: dict
    num_train: int
    num_val: int
    num_test: int
    name: str
    augmentation: dict = None
    training_stream: object = None

    @property
    def num_classes(self):
        """Number of classes."""
        return len(self.class_names)


def load_dataset(
    name,
    *,
    data_dir=None,
    batch_size=128,
    validation_split=0.1,
    seed=0,
    image_size=None,
    channels=None,
    augment="default",
    shuffle_buffer=10000,
    limit=None,
    skip_bad_files=False,
    drop_remainder=False,
    classes=None,
    verbose=0,
):
    """Loads a dataset into train / validation / test `tf.data` pipelines.

    Splits, all deterministic and stratified by class:

    * test: the source's own test split; otherwise (digits, folders without
      `test/`) `TEST_FRACTION` (20%) of the examples, chosen with the fixed
      `TEST_SPLIT_SEED`, so the test set does not change with `seed`.
    * `limit`: if given, the remaining training pool is cut to `limit`
      examples (chosen under `seed`) before the validation split.
    * validation: a folder's own `val/` split if it has one (then
      `validation_split` is ignored), else `validation_split` of the
      training pool, chosen under `seed`.

    Args:
        name: `"fashion_mnist"` (original IDX files, see
            `sources.load_fashion_mnist`), `"digits"` (scikit-learn 8x8 digits
            upsampled to 32x32), any TensorFlow Datasets image-classification
            name (`"mnist"`, `"cifar10"`, `"cifar100"`, ...), or the path of
            an image folder: a `pathlib.Path`, a string starting with `/`,
            `./`, `../` or `~`, or an existing `"dir/subdir"` (a bare word is
            always a dataset name; layouts in `keras_cnns.data.folders`).
        data_dir: Where the named dataset lives: the folder with the
            Fashion-MNIST IDX files, or a TensorFlow Datasets data directory.
            Not used for `digits` and image folders.
        batch_size: Examples per batch.
        validation_split: Share of the training pool held out for
            validation, in `[0, 1)`; 0 gives `val=None`.
        seed: Seed for the validation split, the `limit` subset, shuffling
            and augmentation.
        image_size: Output `(height, width)` or an int for square images.
            Default: the dataset's own size (32x32 for digits; for folders
            the most common size in the folder). Resizing is bilinear and
            does not keep the aspect ratio.
        channels: 1 (grayscale) or 3 (RGB). Default: the dataset's own
            (folders: 3 if any image holds colour, else 1).
        augment: `"default"` (the dataset's recipe in
            `augment.DEFAULT_RECIPES`, else `augment.GENERIC_RECIPE`), a
            recipe dict, another dataset's recipe name, or `None`/`False`.
            Applied to training batches only.
        shuffle_buffer: Shuffle buffer size for the training pipeline.
        limit: Optional cap on the training pool (train plus the
            validation split taken from it), for fast tests and benchmarks.
            The test split is never limited.
        skip_bad_files: For image folders: leave out corrupt and non-image
            files with a warning instead of raising.
        drop_remainder: Drop the last, smaller batch of the training and
            validation pipelines (never of the test pipeline), so that every
            batch has the same static size, as multi-process training needs.
        classes: Optional class labels (ints) or names to keep, e.g.
            `[5, 6, 7, 8, 9]`: every split keeps only these classes (the
            test images are those of the whole dataset's test split), before
            `limit` and the validation split, and they are relabelled 0, 1,
            ... in the order given (`class_names` follows). For learning a
            few classes from few images (`keras_cnns.transfer`).
        verbose: 1 shows progress bars while an image folder of a thousand
            files or more is scanned and read.

    Returns:
        A `DatasetBundle`.

    Raises:
        ValueError: If an argument is invalid, the dataset name is unknown,
            a file is broken, or an image folder has problems (listed by
            path).
        sources.DatasetUnavailableError: If a TensorFlow Datasets dataset is
            not on disk and cannot be downloaded (e.g. offline).

    Example:

    ```python
    bundle = load_dataset("fashion_mnist", batch_size=256, limit=5000)
    model.fit(bundle.train, validation_data=bundle.val, epochs=3)
    model.evaluate(bundle.test)
    ```
    """
    _check_arguments(batch_size, validation_split, seed, channels, shuffle_buffer, limit)
    arrays = load_arrays(name, data_dir=data_dir, validation_split=validation_split, seed=seed,
                         image_size=image_size, channels=channels, limit=limit,
                         skip_bad_files=skip_bad_files, classes=classes, verbose=verbose)
    return bundle_from_arrays(arrays, batch_size=batch_size, augment=augment, seed=seed,
                              shuffle_buffer=shuffle_buffer, drop_remainder=drop_remainder)


@dataclasses.dataclass(frozen=True)
class DatasetArrays:
    """The splits of a dataset as in-memory arrays, before any pipeline.

    Attributes:
        train: `(images, labels)`: uint8 `(N, H, W, C)` pixels in `[0, 255]`
            and int `(N,)` labels.
        val: The same for the validation split, or None.
        test: The same for the test split.
        class_names: Class names, indexed by label.
        image_shape: `(H, W, C)`.
        normalization: `{"mean": [...], "std": [...]}` measured on `train`.
        name: Dataset name (the folder name for image folders).
    """

    train: tuple
    val: object
    test: tuple
    class_names: list
    image_shape: tuple
    normalization: dict
    name: str


def load_arrays(
    name,
    *,
    data_dir=None,
    validation_split=0.1,
    seed=0,
    image_size=None,
    channels=None,
    limit=None,
    skip_bad_files=False,
    classes=None,
    verbose=0,
):
    """Loads a dataset's splits as arrays: `load_dataset` without the pipelines.

    For work that makes many pipelines from one load, e.g. a hyperparameter
    search whose trials differ in batch size and augmentation: load once,
    then `bundle_from_arrays` (or `pipeline.make_pipeline`) per trial.
    The splits are exactly `load_dataset`'s for the same arguments.

    Args:
        name, data_dir, validation_split, seed, image_size, channels, limit,
        skip_bad_files, classes, verbose: As for `load_dataset`.

    Returns:
        A `DatasetArrays`.

    Raises:
        ValueError: As for `load_dataset`.

    Example:

    ```python
    arrays = load_arrays("digits")
    bundle = bundle_from_arrays(arrays, batch_size=64, augment=None)
    ```
    """
    _check_split_arguments(validation_split, seed, channels, limit)
    image_size = standardize_image_size(image_size)
    source = _load_source(name, data_dir, image_size, channels, skip_bad_files, verbose)
    if classes is not None:
        # The test split is held out from every class first, so a class keeps
        # the same test images whatever other classes are kept.
        source = _keep_classes(_with_test_split(source), classes)
    train, val, test = _split(source, validation_split, seed, limit)
    image_size = image_size or source.default_image_size
    channels = channels or min(source.train[0].shape[-1], 3)
    train, val, test = (
        _to_shape(split, image_size, channels) for split in (train, val, test)
    )
    return DatasetArrays(
        train=train,
        val=val,
        test=test,
        class_names=list(source.class_names),
        image_shape=tuple(int(dim) for dim in train[0].shape[1:]),
        normalization=compute_normalization(train[0]),
        name=source.name,
    )


def resize_arrays(arrays, image_size):
    """Every split of a `DatasetArrays` resized to `image_size`, its normalization measured again.

    Args:
        arrays: A `DatasetArrays`.
        image_size: Target `(height, width)` or an int; bilinear, as
            `preprocessing.resize_images`.

    Returns:
        A `DatasetArrays`; `arrays` itself if the size already matches.
    """
    image_size = standardize_image_size(image_size)
    if tuple(arrays.image_shape[:2]) == image_size:
        return arrays

    def resize(split):
        return None if split is None else (resize_images(split[0], image_size), split[1])

    train = resize(arrays.train)
    return dataclasses.replace(
        arrays,
        train=train,
        val=resize(arrays.val),
        test=resize(arrays.test),
        image_shape=tuple(int(dim) for dim in train[0].shape[1:]),
        normalization=compute_normalization(train[0]),
    )


def bundle_from_arrays(arrays, *, batch_size=128, augment="default", seed=0, shuffle_buffer=10000,
                       drop_remainder=False):
    """The `tf.data` pipelines of a `DatasetArrays`, as `load_dataset` makes them.

    Args:
        arrays: A `DatasetArrays` (its `normalization` is applied).
        batch_size, augment, seed, shuffle_buffer, drop_remainder: As for
            `load_dataset`.

    Returns:
        A `DatasetBundle`.

    Raises:
        ValueError: On a bad batch size, shuffle buffer or augmentation recipe.
    """
    _check_pipeline_arguments(batch_size, seed, shuffle_buffer)
    recipe = resolve_recipe(augment, arrays.name)
    augmentation = build_augmentation(recipe, arrays.image_shape, seed=seed, alternating_flips=True)
    flip_bits = None
    if alternates_flips(recipe):  # Which images the first pass mirrors.
        flip_bits = np.random.default_rng(seed).integers(0, 2, size=len(arrays.train[1]), dtype=np.uint8)

    def pipeline(split, training=False, drop_remainder=False, first_pass=0, endless=False):
        if split is None:
            return None
        return make_pipeline(
            *split,
            batch_size=batch_size,
            normalization=arrays.normalization,
            augmentation=augmentation if training else None,
            shuffle_buffer=shuffle_buffer if training else None,
            seed=seed,
            drop_remainder=drop_remainder,
            flip_bits=flip_bits if training else None,
            first_pass=first_pass,
            endless=endless,
        )

    def training_stream(first_pass=0):
        return pipeline(arrays.train, training=True, drop_remainder=drop_remainder, first_pass=first_pass,
                        endless=True)

    return DatasetBundle(
        train=pipeline(arrays.train, training=True, drop_remainder=drop_remainder),
        val=pipeline(arrays.val, drop_remainder=drop_remainder),
        test=pipeline(arrays.test),
        class_names=list(arrays.class_names),
        image_shape=tuple(arrays.image_shape),
        normalization=arrays.normalization,
        num_train=len(arrays.train[1]),
        num_val=0 if arrays.val is None else len(arrays.val[1]),
        num_test=len(arrays.test[1]),
        name=arrays.name,
        augmentation=recipe or None,
        training_stream=training_stream,
    )


def _load_source(name, data_dir, image_size, channels, skip_bad_files, verbose):
    if folders.is_folder_argument(name):
        return sources.load_folder(
            name, image_size=image_size, channels=channels, skip_bad_files=skip_bad_files,
            verbose=verbose,
        )
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"name must be a dataset name or an image folder path; received "
            f"{name!r}. Pass for example 'fashion_mnist' or './my_images'."
        )
    if name == "fashion_mnist":
        return sources.load_fashion_mnist(data_dir)
    if name == "digits":
        return sources.load_digits()
    return sources.load_tfds(name, data_dir=data_dir, image_size=image_size)


def _with_test_split(source):
    """The source with its test split held out as `_split` holds it out, if it has none."""
    if source.test is not None:
        return source
    kept, held_out = holdout_split(source.train[1], TEST_FRACTION, TEST_SPLIT_SEED, STREAM_TEST)
    return dataclasses.replace(source, train=_take(source.train, kept), test=_take(source.train, held_out))


def _keep_classes(source, classes):
    """The source with only `classes` (labels or names), relabelled in the order given."""
    names = list(source.class_names)
    if isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__"):
        classes = [classes]
    labels = []
    for item in classes:
        if isinstance(item, str) and item in names:
            labels.append(names.index(item))
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < len(names):
            labels.append(int(item))
        else:
            raise ValueError(
                f"classes must hold labels in [0, {len(names)}) or class names of "
                f"'{source.name}'; received {item!r} in classes={list(classes)}. Its classes "
                f"are {names}."
            )
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(
            f"classes must list at least one class, each once; received classes={list(classes)}."
        )
    relabel = np.full(len(names), -1, dtype=np.int64)
    relabel[labels] = np.arange(len(labels))

    def keep(split):
        if split is None:
            return None
        images, split_labels = split
        kept = relabel[np.asarray(split_labels, dtype=np.int64)] >= 0
        new_labels = relabel[np.asarray(split_labels, dtype=np.int64)[kept]]
        return images[kept], new_labels.astype(np.asarray(split_labels).dtype)

    return dataclasses.replace(
        source,
        class_names=[names[label] for label in labels],
        train=keep(source.train),
        test=keep(source.test),
        val=keep(source.val),
    )


def _split(source, validation_split, seed, limit):
    pool = source.train
    test = source.test
    if test is None:
        kept, held_out = holdout_split(pool[1], TEST_FRACTION, TEST_SPLIT_SEED, STREAM_TEST)
        pool, test = _take(pool, kept), _take(pool, held_out)
    if limit is not None and limit < len(pool[1]):
        pool = _take(pool, stratified_sample(pool[1], limit, seed, STREAM_LIMIT))
    val = source.val
    if val is None and validation_split > 0:
        kept, held_out = holdout_split(pool[1], validation_split, seed, STREAM_VALIDATION)
        if not len(held_out):
            raise ValueError(
                f"validation_split={validation_split} of the {len(pool[1])} training examples of '{source.name}' "
                f"(limit={limit}) is no example at all. Raise limit, or pass validation_split=0 to train "
                "without a validation split."
            )
        pool, val = _take(pool, kept), _take(pool, held_out)
    if len(pool[1]) == 0:
        raise ValueError(
            f"No training examples are left for '{source.name}' after the "
            f"test and validation splits (validation_split={validation_split}, "
            f"limit={limit}). Raise limit or lower validation_split."
        )
    return pool, val, test


def _take(split, indices):
    images, labels = split
    return images[indices], labels[indices]


def _to_shape(split, image_size, channels):
    if split is None:
        return None
    images, labels = split
    images = convert_channels(images, channels)
    if image_size is not None:
        images = resize_images(images, image_size)
    return images, labels


def _check_arguments(batch_size, validation_split, seed, channels, shuffle_buffer, limit):
    _check_pipeline_arguments(batch_size, seed, shuffle_buffer)
    _check_split_arguments(validation_split, seed, channels, limit)


def _check_pipeline_arguments(batch_size, seed, shuffle_buffer):
    check_positive_int("batch_size", batch_size, "128")
    check_positive_int("shuffle_buffer", shuffle_buffer, "10000")
    _check_seed(seed)


def _check_split_arguments(validation_split, seed, channels, limit):
    if limit is not None:
        check_positive_int("limit", limit, "1000, or None for all examples")
    _check_seed(seed)
    if isinstance(validation_split, bool) or not (
        isinstance(validation_split, (int, float)) and 0 <= validation_split < 1
    ):
        raise ValueError(
            f"validation_split must be a number in [0, 1); received "
            f"{validation_split!r}. Pass for example 0.1, or 0 for no "
            "validation split."
        )
    if channels not in (None, 1, 3):
        raise ValueError(
            f"channels must be None, 1 or 3; received {channels!r}. Pass 1 "
            "for grayscale, 3 for RGB, or None for the dataset's own."
        )


def _check_seed(seed):
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int; received {seed!r}. Pass for example 0.")

"""Where the pixels come from: each source returns in-memory uint8 arrays.

Sources: the real Fashion-MNIST (IDX files, else TensorFlow Datasets),
scikit-learn's 8x8 digits, any TensorFlow Datasets image-classification
dataset, and user image folders. `load_dataset` turns a `SourceArrays` into
pipelines; nothing here knows about batching, splitting or normalization.
"""

import dataclasses
import difflib
import os
import socket
import warnings

import numpy as np
import tensorflow as tf

from keras_cnns.data import folders
from keras_cnns.data.idx import read_idx

FASHION_MNIST_CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
# Installed by the Debian package dataset-fashion-mnist.
DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DIGITS_IMAGE_SIZE = (32, 32)
# Host probed before a TensorFlow Datasets download, so that an offline
# machine fails in milliseconds instead of waiting on download retries.
_TFDS_DOWNLOAD_HOST = ("storage.googleapis.com", 443)
_NETWORK_TIMEOUT_S = 2.0
_PROXY_VARIABLES = (
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"
)


class DatasetUnavailableError(RuntimeError):
    """A dataset is neither on disk nor downloadable right now."""


@dataclasses.dataclass(frozen=True)
class SourceArrays:
    """Decoded examples of one source, before splitting and normalization.

    Attributes:
        name: Dataset name (the folder name for image folders).
        class_names: Class names, indexed by label.
        train: `(images, labels)`; uint8 `(N, H, W, C)` and int32 `(N,)`.
        test: Same for the source's own test split, or None if it has none.
        val: Same for a source's own validation split (image folders with a
            `val/` folder), else None.
        default_image_size: Size to resize to when the caller gives none
            (None: keep the stored size).
    """

    name: str
    class_names: list
    train: tuple
    test: tuple = None
    val: tuple = None
    default_image_size: tuple = None


def load_fashion_mnist(data_dir=None):
    """The real Fashion-MNIST: 60,000 training and 10,000 test 28x28 images.

    Looks for the original IDX files (gzipped or not) in `data_dir`, else in
    `DEBIAN_FASHION_MNIST_DIR`; if neither holds them, loads
    `fashion_mnist` from TensorFlow Datasets (with `data_dir` as its data
    directory).

    Reference: H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image
    Dataset for Benchmarking Machine Learning Algorithms", arXiv:1708.07747.

    Args:
        data_dir: Optional folder with the four IDX files, or a TensorFlow
            Datasets data directory.

    Returns:
        A `SourceArrays`.

    Raises:
        ValueError: If an IDX file is broken or only some of the four exist.
        DatasetUnavailableError: If no IDX files are found and TensorFlow
            Datasets cannot provide the dataset.
    """
    searched = [data_dir] if data_dir is not None else [DEBIAN_FASHION_MNIST_DIR]
    for directory in searched:
        paths = find_idx_files(directory, FASHION_MNIST_FILES)
        if paths is not None:
            return _fashion_mnist_from_idx(paths)
    try:
        source = load_tfds("fashion_mnist", data_dir=data_dir)
    except DatasetUnavailableError as error:
        raise DatasetUnavailableError(
            f"Fashion-MNIST IDX files ({', '.join(FASHION_MNIST_FILES.values())}"
            f", optionally .gz) were not found in {searched[0]}, and the "
            f"TensorFlow Datasets fallback failed: {error}"
        ) from error
    return dataclasses.replace(source, class_names=list(FASHION_MNIST_CLASS_NAMES))


def find_idx_files(directory, file_names):
    """Finds IDX files by base name, preferring the `.gz` form.

    Args:
        directory: Folder to look in.
        file_names: Dict key -> base file name (without `.gz`).

    Returns:
        Dict key -> path, or None if none of the files is there.

    Raises:
        ValueError: If only some of the files are there.
    """
    found, missing = {}, []
    for key, base in file_names.items():
        candidates = [os.path.join(directory, base + ".gz"), os.path.join(directory, base)]
        existing = [path for path in candidates if os.path.isfile(path)]
        if existing:
            found[key] = existing[0]
        else:
            missing.append(base)
    if not found:
        return None
    if missing:
        raise ValueError(
            f"Folder {directory} holds only some of the IDX files: missing "
            f"{missing} (with or without .gz). Put all four files there."
        )
    return found


def load_digits():
    """scikit-learn's bundled 8x8 digits (1,797 images, classes 0-9).

    Values 0..16 are scaled to 0..255. The images stay 8x8 here;
    `default_image_size` asks the loader to upsample them to 32x32. The
    source has no test split of its own.

    Returns:
        A `SourceArrays`.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    digits = sklearn_load_digits()
    pixels = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255)
    images = pixels.astype(np.uint8)[..., None]
    labels = digits.target.astype(np.int32)
    return SourceArrays(
        name="digits",
        class_names=[str(digit) for digit in range(10)],
        train=(images, labels),
        default_image_size=DIGITS_IMAGE_SIZE,
    )


def load_tfds(name, data_dir=None, image_size=None):
    """Any TensorFlow Datasets image-classification dataset, in memory.

    Uses the `train` split, and `test` (else `validation`) as the test split.
    If the dataset is not prepared in the data directory, it is downloaded
    once; offline, this fails at once with `DatasetUnavailableError`.

    Args:
        name: TensorFlow Datasets name, optionally with config/version
            (e.g. `"cifar10"`, `"mnist:3.*.*"`).
        data_dir: TensorFlow Datasets data directory (default: its own,
            `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).
        image_size: `(height, width)`; required when the dataset's images
            vary in size, since they are resized on reading.

    Returns:
        A `SourceArrays`.

    Raises:
        ValueError: If `name` is not a TensorFlow Datasets name, not an
            image-classification dataset, or has no train split, or if the
            images vary in size and no `image_size` is given.
        DatasetUnavailableError: If the dataset is not on disk and cannot be
            downloaded.
    """
    import tensorflow_datasets as tfds

    builder = _prepared_tfds_builder(tfds, name, data_dir)
    image_key, label_key = _supervised_keys(builder, name)
    split_names = list(builder.info.splits.keys())
    if "train" not in split_names:
        raise ValueError(
            f"TensorFlow Datasets '{name}' has no 'train' split (it has "
            f"{split_names}). Use a dataset with a train split, or an image "
            "folder."
        )
    test_split = next((s for s in ("test", "validation") if s in split_names), None)
    image_shape = builder.info.features[image_key].shape
    if None in image_shape[:2] and image_size is None:
        raise ValueError(
            f"The images of TensorFlow Datasets '{name}' vary in size "
            f"(shape {image_shape}). Pass image_size=(height, width) to resize "
            "them (`keras-cnns train --image-size HEIGHT,WIDTH`)."
        )
    # Fixed-size images are resized later, in one place, with everything else.
    resize_on_read = image_size if None in image_shape[:2] else None
    splits = {}
    for split in ["train"] + ([test_split] if test_split else []):
        dataset = builder.as_dataset(split=split, as_supervised=True)
        splits[split] = _dataset_to_arrays(dataset, resize_on_read)
    return SourceArrays(
        name=name,
        class_names=list(builder.info.features[label_key].names),
        train=splits["train"],
        test=splits.get(test_split),
    )


def load_folder(path, image_size=None, channels=None, skip_bad_files=False, verbose=0):
    """An image folder (see `keras_cnns.data.folders` for the layouts).

    Args:
        path: Root folder.
        image_size: `(height, width)`; default: the most common image size
            in the folder (a warning says how many images get resized).
        channels: 1 or 3; default: 3 if any image holds colour, else 1.
        skip_bad_files: Leave out unreadable files with a warning instead of
            raising.
        verbose: 1 shows progress bars while a large folder is scanned and read.

    Returns:
        A `SourceArrays`; `test`/`val` are set when the folder has `test/` /
        `val/` split folders.

    Raises:
        ValueError: If the scan finds problems (and `skip_bad_files` is
            False), listing them by path.
    """
    report = folders.scan_image_folder(path, verbose=verbose)
    folders.check_scan(report, skip_bad_files=skip_bad_files)
    if image_size is None:
        image_size = folders.most_common_size(report)
        _warn_if_resizing(report, image_size)
    if channels is None:
        channels = 3 if report.has_colour else 1
    splits = {}
    for split in report.splits:
        records = [r for r in report.records if r.split == split]
        splits[split] = folders.read_images(records, image_size, channels, verbose=verbose)
    if "train" not in splits:
        raise ValueError(
            f"Image folder {report.root} has no readable training images "
            f"(splits found: {report.splits}). Put images in "
            f"{report.root / 'train'}/<class>/."
        )
    return SourceArrays(
        name=report.root.name,
        class_names=report.class_names,
        train=splits["train"],
        test=splits.get("test"),
        val=splits.get("val"),
    )


def network_available():
    """Whether the TensorFlow Datasets download host answers quickly.

    With a proxy configured, a direct connection says nothing, so this then
    returns True and leaves the verdict to the download itself.
    """
    if any(os.environ.get(variable) for variable in _PROXY_VARIABLES):
        return True
    try:
        with socket.create_connection(_TFDS_DOWNLOAD_HOST, timeout=_NETWORK_TIMEOUT_S):
            return True
    except OSError:
        return False


def _fashion_mnist_from_idx(paths):
    train_images = read_idx(paths["train_images"], expected_ndim=3)
    train_labels = read_idx(paths["train_labels"], expected_ndim=1)
    test_images = read_idx(paths["test_images"], expected_ndim=3)
    test_labels = read_idx(paths["test_labels"], expected_ndim=1)
    _check_counts_match(train_images, train_labels, paths["train_images"], paths["train_labels"])
    _check_counts_match(test_images, test_labels, paths["test_images"], paths["test_labels"])
    return SourceArrays(
        name="fashion_mnist",
        class_names=list(FASHION_MNIST_CLASS_NAMES),
        train=(train_images[..., None].astype(np.uint8), train_labels.astype(np.int32)),
        test=(test_images[..., None].astype(np.uint8), test_labels.astype(np.int32)),
    )


def _check_counts_match(images, labels, images_path, labels_path):
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds "
            f"{len(labels)} labels. One of the files is from another dataset "
            "or damaged; fetch both again."
        )
    if labels.size and labels.max() >= len(FASHION_MNIST_CLASS_NAMES):
        raise ValueError(
            f"{labels_path} holds label {int(labels.max())}, but Fashion-MNIST "
            f"has {len(FASHION_MNIST_CLASS_NAMES)} classes. The file is "
            "damaged or from another dataset."
        )


def _prepared_tfds_builder(tfds, name, data_dir):
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception:  # tfds raises several types for bad names, with its whole catalogue in the message.
        known = ["fashion_mnist", "digits", *tfds.list_builders()]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown dataset {name!r}.{hint} Pass 'fashion_mnist', 'digits', 'mnist', 'cifar10', 'cifar100', "
            "another TensorFlow Datasets image-classification name (tensorflow_datasets.list_builders() lists "
            "them; https://www.tensorflow.org/datasets/catalog/overview), or the path of an image folder "
            "(starting with '/', './' or '~')."
        ) from None
    if builder.is_prepared():
        return builder
    location = builder.data_dir
    if not network_available():
        raise DatasetUnavailableError(
            f"Dataset '{name}' was not found at {location} and cannot be "
            f"downloaded: {_TFDS_DOWNLOAD_HOST[0]} is unreachable (no "
            "network). Run once with internet access so TensorFlow Datasets "
            "can download it, or pass data_dir= pointing at a TensorFlow "
            "Datasets directory that already holds it."
        )
    try:
        builder.download_and_prepare()
    except Exception as error:  # Network and disk errors come in many types.
        raise DatasetUnavailableError(
            f"Dataset '{name}' was not found at {location} and the download "
            f"failed ({type(error).__name__}: {error}). Run once with internet "
            "access so TensorFlow Datasets can download it, or pass data_dir= "
            "pointing at a TensorFlow Datasets directory that already holds it."
        ) from error
    return builder


def _supervised_keys(builder, name):
    import tensorflow_datasets as tfds

    keys = builder.info.supervised_keys
    features = builder.info.features
    if (
        not keys
        or len(keys) != 2
        or not isinstance(features[keys[1]], tfds.features.ClassLabel)
        or not isinstance(features[keys[0]], tfds.features.Image)
    ):
        raise ValueError(
            f"TensorFlow Datasets '{name}' is not an image-classification "
            f"dataset (supervised keys {keys}). Pass an image-classification "
            "dataset such as 'mnist' or 'cifar10'."
        )
    return keys


def _dataset_to_arrays(dataset, image_size):
    if image_size is not None:
        dataset = dataset.map(
            lambda image, label: (_resize_to_uint8(image, image_size), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    images, labels = [], []
    for image_batch, label_batch in dataset.batch(4096).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.int32)


def _resize_to_uint8(image, image_size):
    resized = tf.image.resize(image, image_size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def _warn_if_resizing(report, image_size):
    counts = report.size_counts
    resized = sum(count for size, count in counts.items() if size != image_size)
    if resized:
        warnings.warn(
            f"Images in {report.root} come in {len(counts)} sizes; resizing "
            f"{resized} of {len(report.records)} to the most common size "
            f"{image_size} (height, width). Pass image_size= to choose.",
            stacklevel=3,
        )

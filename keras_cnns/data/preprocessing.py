"""Pixel preprocessing shared by training, evaluation, export and inference.

The normalization convention, written once here:

    normalized = (pixels / 255 - mean) / std

where `pixels` are in `[0, 255]` and `mean` / `std` are per-channel statistics
of the training split measured in `[0, 1]` pixel scale. A model trained on a
`DatasetBundle` expects inputs prepared by `normalize(pixels,
bundle.normalization)`.

Only numpy is imported here (TensorFlow only when a function is handed
TensorFlow data), so the LiteRT inference path prepares images without it.
"""

import numpy as np

from keras_cnns.data.resample import resize_images  # noqa: F401  (part of this module's API)

# Standard deviations below this are treated as 1 so that a constant channel
# does not blow up to inf after normalization.
_MIN_STD = 1e-6
# Images are measured this many at a time to bound peak memory.
_CHUNK = 4096
# ITU-R BT.601 luma weights, the usual RGB -> grayscale conversion.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def normalize(images, normalization):
    """Maps raw pixels in `[0, 255]` to the network's input scale.

    Works on numpy arrays (returns numpy), TensorFlow tensors (returns a
    tensor; safe inside `tf.data` whatever the Keras backend) and other Keras
    backend or symbolic tensors (uses `keras.ops`).

    Args:
        images: Pixels in `[0, 255]`, any integer or float dtype, channels
            last (e.g. `(N, H, W, C)` or `(H, W, C)`).
        normalization: Dict with per-channel lists `"mean"` and `"std"` in
            `[0, 1]` pixel scale, as in `DatasetBundle.normalization`.

    Returns:
        Float32 images computed as `(images / 255 - mean) / std`.

    Raises:
        ValueError: If `normalization` lacks `mean`/`std` or their length does
            not match the channel count of `images`.

    Example:

    ```python
    x = normalize(np.asarray(pil_image)[None, ..., None], bundle.normalization)
    probabilities = model.predict(x)
    ```
    """
    mean, std = _mean_and_std(normalization)
    _check_channels(images, mean)
    if _is_tensorflow(images):
        import tensorflow as tf

        pixels = tf.cast(images, tf.float32)
    elif isinstance(images, (np.ndarray, np.generic, list, tuple, int, float)):
        pixels = np.asarray(images, dtype=np.float32)
    else:
        import keras

        pixels = keras.ops.cast(images, "float32")
    return (pixels / 255.0 - mean) / std


def denormalize(images, normalization):
    """The inverse of `normalize`: network inputs back to pixels in `[0, 255]`.

    Args:
        images: Normalized images (numpy or array-like), channels last.
        normalization: The dict they were normalized with.

    Returns:
        Float32 numpy pixels `(images * std + mean) * 255`, neither rounded
        nor clipped (round and clip to show or save them as images).

    Raises:
        ValueError: As for `normalize`.

    Example:

    ```python
    pixels = denormalize(x_test[:8], bundle.normalization)  # what the model saw, as pixels
    ```
    """
    mean, std = _mean_and_std(normalization)
    images = np.asarray(images, dtype=np.float32)
    _check_channels(images, mean)
    return ((images * std + mean) * 255.0).astype(np.float32)


def compute_normalization(images):
    """Measures per-channel mean and std of uint8-range images in [0, 1] scale.

    Args:
        images: Array `(N, H, W, C)` with pixels in `[0, 255]`.

    Returns:
        `{"mean": [float] * C, "std": [float] * C}`; a channel whose std is
        (nearly) zero gets std 1.0 so normalization stays finite.

    Raises:
        ValueError: If `images` is empty or not 4-D.
    """
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(
            "Normalization statistics need a non-empty (N, H, W, C) array; "
            f"received shape {images.shape}. Check that the training split "
            "is not empty."
        )
    channels = images.shape[-1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.float64) / 255.0
        total += chunk.sum(axis=(0, 1, 2))
        total_sq += np.square(chunk).sum(axis=(0, 1, 2))
    count = images.size // channels
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - np.square(mean), 0.0))
    std = np.where(std < _MIN_STD, 1.0, std)
    return {"mean": [float(m) for m in mean], "std": [float(s) for s in std]}


def check_finite(data, max_batches=None):
    """Raises if any input image holds NaN or inf.

    Args:
        data: A numpy array / tensor of images, or a `tf.data.Dataset` whose
            elements are images or `(images, labels)` tuples.
        max_batches: For datasets, how many elements (batches) to check;
            `None` checks the whole dataset (one full pass).

    Returns:
        The number of images checked.

    Raises:
        ValueError: If a non-finite value is found; the message says where
            and how many.

    Example:

    ```python
    check_finite(bundle.train, max_batches=10)
    ```
    """
    if _is_tensorflow(data) and hasattr(data, "element_spec"):
        return _check_finite_dataset(data, max_batches)
    images = np.asarray(data)
    _raise_if_not_finite(images, "The input array")
    return len(images) if images.ndim else 1


def convert_channels(images, channels):
    """Converts `(N, H, W, C)` uint8 images to 1 (grayscale) or 3 (RGB) channels.

    Grayscale is repeated into RGB; RGB becomes grayscale with BT.601 luma
    weights; a fourth (alpha) channel is dropped.

    Args:
        images: uint8 array `(N, H, W, C)` with C in {1, 3, 4}.
        channels: 1 or 3.

    Returns:
        uint8 array `(N, H, W, channels)`.

    Raises:
        ValueError: If `channels` or the input channel count is unsupported.
    """
    _check_requested_channels(channels)
    current = images.shape[-1]
    if current == 4:
        images, current = images[..., :3], 3
    if current not in (1, 3):
        raise ValueError(
            f"Images must have 1, 3 or 4 channels; received shape "
            f"{images.shape}. Convert them to grayscale or RGB first."
        )
    if current == channels:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    luma = images.astype(np.float32) @ _LUMA_WEIGHTS
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]


def standardize_image_size(image_size):
    """Turns `None`, an int or a `(height, width)` pair into `None` or a tuple.

    Raises:
        ValueError: If `image_size` is not a positive int or pair of them.
    """
    if image_size is None:
        return None
    if isinstance(image_size, int) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    if (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(s, int) and s > 0 for s in image_size)
    ):
        return int(image_size[0]), int(image_size[1])
    raise ValueError(
        f"image_size must be a positive int or a (height, width) pair of "
        f"positive ints; received {image_size!r}. Pass for example 32 or "
        "(32, 32)."
    )


def _is_tensorflow(value):
    """Whether `value` is a TensorFlow tensor or dataset (checked without importing TensorFlow)."""
    return type(value).__module__.startswith("tensorflow")


def _check_requested_channels(channels):
    if channels not in (1, 3):
        raise ValueError(
            f"channels must be 1 (grayscale) or 3 (RGB); received "
            f"{channels!r}. Pass channels=1, channels=3, or None to keep the "
            "dataset's own channel count."
        )


def _mean_and_std(normalization):
    try:
        mean = np.asarray(normalization["mean"], dtype=np.float32)
        std = np.asarray(normalization["std"], dtype=np.float32)
    except (KeyError, TypeError) as error:
        raise ValueError(
            "normalization must be a dict with per-channel lists 'mean' and "
            f"'std'; received {normalization!r}. Pass "
            "DatasetBundle.normalization."
        ) from error
    if mean.shape != std.shape or mean.ndim != 1:
        raise ValueError(
            "normalization 'mean' and 'std' must be equal-length lists, one "
            f"value per channel; received {normalization!r}."
        )
    return mean, std


def _check_channels(images, mean):
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) == 0:
        return
    channels = shape[-1]
    if channels is not None and int(channels) != len(mean):
        raise ValueError(
            f"Images have {int(channels)} channels (shape {tuple(shape)}) but "
            f"the normalization has {len(mean)}. Convert the images to "
            f"{len(mean)} channel(s), channels last, before normalizing."
        )


def _check_finite_dataset(dataset, max_batches):
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    checked = 0
    for batch_index, element in enumerate(dataset):
        images = element[0] if isinstance(element, (tuple, list)) else element
        _raise_if_not_finite(
            images.numpy(), f"Batch {batch_index} of the dataset"
        )
        checked += int(images.shape[0]) if images.shape.rank else 1
    return checked


def _raise_if_not_finite(images, where):
    if not np.issubdtype(images.dtype, np.floating):
        return
    finite = np.isfinite(images)
    if finite.all():
        return
    bad = int(images.size - np.count_nonzero(finite))
    first = tuple(int(i) for i in np.argwhere(~finite)[0])
    raise ValueError(
        f"{where} holds {bad} non-finite value(s) (NaN or inf); the first is "
        f"at index {first}. Training on them would turn the loss into NaN. "
        "Check the image files and any preprocessing before this point."
    )

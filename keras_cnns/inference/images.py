"""Turning what a user holds (image files, PIL images, arrays) into model inputs.

`to_pixel_batch` brings any of them to one float32 batch `(N, H, W, C)` of
pixels in `[0, 255]` at the model's input size and channel count:

* image files and PIL images are decoded as the image-folder loader decodes
  them (`keras_cnns.data.folders.read_image`: EXIF orientation, grayscale or
  RGB, bilinear resize);
* arrays are converted and resized as `load_dataset` converts and resizes
  arrays (`convert_channels`, `resize_images`); an array that already has the
  model's size and channels is used as it is.

With a dataset look (`keras_cnns.inference.photos.DatasetLook`), every image
is instead decoded at its own size and prepared to look like the dataset's
images (`prepare_photo`): a product photo, dark on white and off-centre,
becomes a light object centred on black, as in Fashion-MNIST.

Normalization (and int8 quantization) come after, in `TFLiteClassifier`.
"""

import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from keras_cnns.data.folders import image_to_array, read_image
from keras_cnns.data.preprocessing import convert_channels, resize_images
from keras_cnns.inference.photos import prepare_photo

_CHANNEL_COUNTS = (1, 3, 4)


def to_pixel_batch(images, image_shape, look=None):
    """Image files, PIL images or pixel arrays -> float32 `(N, H, W, C)` pixels.

    Args:
        images: One of: a file path (str or `os.PathLike`); a PIL image; an
            array of pixels in `[0, 255]` (any numeric dtype) shaped
            `(H, W)`, `(H, W, C)` (C in 1, 3, 4), `(N, H, W)` or
            `(N, H, W, C)`; or a list/tuple mixing paths, PIL images and
            single-image arrays of any sizes.
        image_shape: The model's `(height, width, channels)`.
        look: The dataset's `DatasetLook`: prepare each image as a photo
            (`prepare_photo`); None: only convert and resize.

    Returns:
        float32 array `(N, height, width, channels)` of pixels in `[0, 255]`.

    Raises:
        FileNotFoundError: If a path names no file.
        ValueError: For a folder or a file that is not an image, an array of an
            unsupported rank or channel count, an empty batch, or pixels
            that are NaN, infinite or outside `[0, 255]`; the message names
            the file or the shape.

    Example:

    ```python
    batch = to_pixel_batch(["shoe.jpg", "shirt.png"], (28, 28, 1))
    ```
    """
    return np.concatenate([prepared.pixels[None] if look is not None else prepared
                           for prepared in prepare_images(images, image_shape, look)])


def prepare_images(images, image_shape, look=None):
    """As `to_pixel_batch`, one entry per input item.

    Returns:
        With `look`: one `PreparedPhoto` per image (what was done to it);
        without: one float32 `(n, height, width, channels)` batch per item.
    """
    if look is None:
        return [_one_item(item, image_shape, where) for item, where in _items(images)]
    return [prepare_photo(image, look, image_shape) for image in load_images(images)]


def load_images(images):
    """Every image of `images` (as for `to_pixel_batch`) at its own size: `(H, W, C)` arrays, C 1, 3 or 4."""
    return [image for item, where in _items(images) for image in _full_size(item, where)]


def _items(images):
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("Received an empty list of images. Pass at least one image.")
        return [(item, f"item {i}") for i, item in enumerate(images)]
    return [(images, "the input")]


def _full_size(item, where):
    """The images of one item at their own size: uint8/float `(H, W, C)` arrays."""
    if isinstance(item, (str, os.PathLike)):
        return [read_image_file(item, None)]
    if isinstance(item, Image.Image):
        return [image_to_array(item, 3)]
    return list(_checked_batch(item, where))


def _one_item(item, image_shape, where):
    height, width, channels = image_shape
    if isinstance(item, (str, os.PathLike)):
        return read_image_file(item, image_shape)[None].astype(np.float32)
    if isinstance(item, Image.Image):
        return image_to_array(item, channels, (height, width))[None].astype(np.float32)
    return _array_batch(item, image_shape, where)


def read_image_file(path, image_shape):
    """Decodes one image file at the model's size and channels (uint8 `(H, W, C)`).

    `image_shape` None keeps the file's own size, in RGB.

    Raises:
        FileNotFoundError: If there is no file at `path`.
        ValueError: If `path` is a folder, or a file Pillow cannot decode.
    """
    height, width, channels = image_shape if image_shape is not None else (None, None, 3)
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder, not an image file. Pass the image files in it (e.g. {path}/*.png).")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path}. Check the path.")
    try:
        return read_image(path, channels, None if image_shape is None else (height, width))
    except UnidentifiedImageError as error:
        raise ValueError(
            f"{path} is not an image file Pillow can read. Pass PNG, JPEG, BMP, GIF, TIFF or "
            "WebP files."
        ) from error
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(
            f"{path} could not be decoded ({type(error).__name__}: {error}); the file may be "
            "truncated or corrupt. Re-save or re-download it."
        ) from error


def _array_batch(array, image_shape, where):
    height, width, channels = image_shape
    batch = _checked_batch(array, where)
    if batch.shape[1:] == (height, width, channels):
        return batch.astype(np.float32)
    # Converted and resized from uint8, as load_dataset prepares training images.
    pixels = np.clip(np.rint(batch), 0, 255).astype(np.uint8) if batch.dtype != np.uint8 else batch
    pixels = convert_channels(pixels, channels)
    return resize_images(pixels, (height, width)).astype(np.float32)


def _checked_batch(array, where):
    """An array of pixels as a checked `(N, H, W, C)` batch."""
    try:
        array = np.asarray(array)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Could not read {where} as an image array ({error}). Pass file paths, PIL "
            "images or numeric arrays."
        ) from error
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(
            f"{where.capitalize()} has dtype {array.dtype}; images must be numeric pixel arrays "
            "(uint8, or floats in [0, 255])."
        )
    batch = _as_batch(array, where)
    if batch.shape[0] == 0:
        raise ValueError(f"{where.capitalize()} is an empty batch of shape {array.shape}. Pass at least one image.")
    _check_pixels(batch, where, array.shape)
    return batch


def _as_batch(array, where):
    if array.ndim == 2:
        return array[None, ..., None]
    if array.ndim == 3:
        # (H, W, C) with a channel count images have; otherwise a batch of grayscale images.
        return array[None] if array.shape[-1] in _CHANNEL_COUNTS else array[..., None]
    if array.ndim == 4:
        if array.shape[-1] not in _CHANNEL_COUNTS:
            raise ValueError(
                f"{where.capitalize()} has shape {array.shape}: a batch of images must be "
                "(N, H, W, C) with 1, 3 or 4 channels last."
            )
        return array
    raise ValueError(
        f"{where.capitalize()} has shape {array.shape} (rank {array.ndim}); expected an image "
        "(H, W) or (H, W, C), or a batch (N, H, W) or (N, H, W, C), channels last."
    )


def _check_pixels(batch, where, shape):
    if np.issubdtype(batch.dtype, np.floating):
        finite = np.isfinite(batch)
        if not finite.all():
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"{where.capitalize()} (shape {shape}) holds "
                f"{int(batch.size - finite.sum())} NaN or infinite value(s), the first at index "
                f"{first}. Check how the images were loaded."
            )
    low, high = batch.min(), batch.max()
    if low < 0 or high > 255:
        raise ValueError(
            f"{where.capitalize()} (shape {shape}) has values in [{float(low):.3g}, "
            f"{float(high):.3g}], outside the pixel range [0, 255]. Pass raw pixels: the "
            "classifier applies the model's normalization itself (an array that is already "
            "normalized can go to TFLiteRunner.run)."
        )
    if np.issubdtype(batch.dtype, np.floating) and 0 < high <= 1:
        # Pixels scaled to [0, 1] (x / 255, or PIL -> tf.image.convert_image_dtype) are the common
        # mistake; read as [0, 255] they are a black image, and the predictions are silently wrong.
        warnings.warn(
            f"{where.capitalize()} (shape {shape}) holds floats in [{float(low):.3g}, {float(high):.3g}]: "
            "pixels are read in [0, 255], so this is a nearly black image. If the pixels were scaled "
            "to [0, 1], multiply them by 255.",
            stacklevel=5,
        )

"""One image in, ready for a network: decoded, sized, normalized.

Decoding and sizing are `keras_cnns.inference.images.to_pixel_batch`'s
(image files, PIL images or pixel arrays; EXIF orientation, grayscale or RGB,
bilinear resize), normalization is the package's one convention,
`keras_cnns.data.normalize`.
"""

import numpy as np

from keras_cnns.data.preprocessing import normalize
from keras_cnns.inference.images import to_pixel_batch
from keras_cnns.inspect.graph import as_functional


def model_image_shape(model):
    """`(height, width, channels)` of a model's image input (channels last; None where open).

    Raises:
        ValueError: If the model's input is not an image.
    """
    shape = tuple(as_functional(model).inputs[0].shape[1:])
    if len(shape) != 3:
        raise ValueError(
            f"{model.name!r} takes inputs of shape {shape}, not images (height, width, channels)."
        )
    return shape


def prepare_image(image, model, normalization=None):
    """Turns one image into an input of `model` and a copy to display.

    Args:
        image: An image file path, a PIL image, or pixels in `[0, 255]`
            shaped `(H, W)` or `(H, W, C)`.
        model: The network the image is for; its input gives the channel
            count and, where fixed, the size (an open size keeps the image's).
        normalization: `{"mean": [...], "std": [...]}` the network was trained
            with (a run's `metrics.json` has it). None: pixels scaled to
            `[0, 1]`, right only for a network trained that way.

    Returns:
        `(display, x)`: `display` uint8 `(h, w, c)` at the network's input
        size and channels; `x` float32 `(h, w, c)`, normalized.

    Raises:
        FileNotFoundError: If a path names no file.
        ValueError: If the image cannot be decoded or is not one image of
            pixels in `[0, 255]`.

    Example:

    ```python
    display, x = prepare_image("boot.png", trained.model, trained.normalization)
    ```
    """
    height, width, channels = model_image_shape(model)
    if height is None or width is None:
        size = _own_size(image)
        height, width = height or size[0], width or size[1]
    batch = to_pixel_batch(image, (height, width, channels))
    if len(batch) != 1:
        raise ValueError(
            f"Expected one image; received {len(batch)} (array of shape {np.shape(image)}). "
            "Pass a single (H, W) or (H, W, C) image."
        )
    display = np.clip(np.rint(batch[0]), 0, 255).astype(np.uint8)
    if normalization is None:
        x = batch[0] / 255.0
    else:
        x = np.asarray(normalize(batch[0], normalization), dtype=np.float32)
    return display, x.astype(np.float32)


def _own_size(image):
    """`(height, width)` of an image given as a path, PIL image or array."""
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.height, image.width
    if hasattr(image, "shape"):
        return tuple(np.shape(image)[:2])
    with Image.open(image) as opened:
        return opened.height, opened.width

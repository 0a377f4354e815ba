"""Resizing images with numpy alone: antialiased bilinear filtering as matrices.

A resize is separable: each output row is a weighted sum of input rows, and
each output column of input columns. `resample_matrix` builds those weights
for one axis, so that `rows @ image @ columns.T` is the resized image. The
weights are TensorFlow's (`tf.image.resize(..., "bilinear", antialias=True)`):
output pixel `i` is centred on input coordinate `start + (i + 0.5) * step`
(pixel `j` covers `[j, j + 1)`), and a triangle kernel, widened by the
downscaling factor, weighs the input pixels around it.

The same matrices crop as they resize (`start`, `extent`): the photo
preparation of `keras_cnns.inference.photos` cuts the object's square out of a
photo this way, and `keras_cnns.export.mobile` does it inside a TFLite graph.
Training, export and inference all resize with this module, so an image is
resized the same way wherever it goes, without TensorFlow.
"""

import numpy as np

# Images are resized this many at a time to bound peak memory.
_CHUNK = 2048


def triangle(distance):
    """The bilinear (triangle) kernel, support 1."""
    return np.maximum(0.0, 1.0 - np.abs(distance))


def cubic(distance, a=-0.5):
    """Keys' cubic convolution kernel (a = -0.5, as Pillow's and OpenCV's bicubic), support 2.

    Sharper than the triangle: it keeps more of the detail a downscaled photo
    has (R. Keys, "Cubic convolution interpolation for digital image
    processing", 1981).
    """
    t = np.abs(distance)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


KERNELS = {"bilinear": (triangle, 1), "cubic": (cubic, 2)}


def resample_matrix(in_size, out_size, *, start=0.0, extent=None, antialias=True, outside="clamp",
                    kernel="bilinear"):
    """The `(out_size, in_size)` weights that resample one axis.

    Args:
        in_size: Input pixels along the axis.
        out_size: Output pixels.
        start: Input coordinate where the output's first pixel begins.
        extent: Input length the output covers (default `in_size`: the
            whole axis). A window reaching past the image crops or pads.
        antialias: Widen the kernel by the downscaling factor, so every
            input pixel counts (True), or sample with the plain 2-tap
            bilinear kernel (False).
        outside: What lies beyond the image: `"clamp"` (the edge pixels
            carry the weight, as `tf.image.resize`) or `"zero"` (black: a
            window hanging over the edge pads the image with zeros).
        kernel: `"bilinear"` (TensorFlow's) or `"cubic"` (`cubic`).

    Returns:
        float32 array `(out_size, in_size)`.
    """
    extent = float(in_size if extent is None else extent)
    step = extent / out_size
    centres = start + (np.arange(out_size) + 0.5) * step
    function, support = KERNELS[kernel]
    width = max(1.0, step) if antialias else 1.0
    positions = np.arange(in_size)
    weights = function((positions[None, :] + 0.5 - centres[:, None]) / width)
    if outside == "clamp":
        total = weights.sum(axis=1, keepdims=True)
        return (weights / np.where(total != 0, total, 1.0)).astype(np.float32)
    if outside != "zero":
        raise ValueError(f"outside must be 'clamp' or 'zero'; received {outside!r}.")
    return (weights / kernel_sums(centres, width, kernel)[:, None]).astype(np.float32)


def kernel_sums(centres, width, kernel="bilinear"):
    """The sum of a kernel's weights over every integer pixel, wherever it lies, for each centre.

    A window hanging over the image's edge keeps the weights of the pixels
    inside and divides by this full sum, so the missing pixels count as 0.
    """
    function, support = KERNELS[kernel]
    reach = int(np.ceil(width * support)) + 1
    offsets = np.arange(-reach, reach + 1)
    positions = np.floor(centres)[:, None] + offsets[None, :]
    return function((positions + 0.5 - centres[:, None]) / width).sum(axis=1)


def resize_images(images, image_size):
    """Resizes `(N, H, W, C)` uint8 images with antialiased bilinear filtering.

    Equal to `tf.image.resize(images, image_size, "bilinear", antialias=True)`
    rounded to uint8, up to float rounding (tested).

    Args:
        images: uint8 array `(N, H, W, C)`.
        image_size: Target `(height, width)`.

    Returns:
        uint8 array `(N, height, width, C)`; the input itself if the size
        already matches.
    """
    height, width = image_size
    if images.shape[1:3] == (height, width):
        return images
    rows = resample_matrix(images.shape[1], height)
    columns = resample_matrix(images.shape[2], width)
    resized = np.empty((len(images), height, width, images.shape[-1]), dtype=np.uint8)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.float32)
        values = np.einsum("hH,nHWc,wW->nhwc", rows, chunk, columns, optimize=True)
        resized[start : start + _CHUNK] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return resized

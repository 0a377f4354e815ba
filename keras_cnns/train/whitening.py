"""Patch whitening: a first convolution that decorrelates the image's patches.

airbench (Jordan 2024, after Page's DAWNBench series) starts its network with
a convolution whose filters are the eigenvectors of the covariance of the
training images' patches, each scaled by one over the square root of its
eigenvalue: what comes out of it has uncorrelated channels of unit variance,
so the layers after it start from well-conditioned inputs and learn in fewer
epochs. `whiten_first_convolution` sets any network's first convolution that
way from a sample of its training images; `TrainConfig(whiten_first_conv=True)`
does it before a run's first epoch.

```python
from keras_cnns.train.whitening import whiten_first_convolution

layer = whiten_first_convolution(model, images)   # images: (N, H, W, C), as the model takes them
```

With more filters than a patch has values (`kernel height x width x
channels`), the next filters are the negated whitening filters (airbench's
choice, so a ReLU after them keeps both signs); any further filters keep
their initial values.
"""

import keras
import numpy as np

# Added to the eigenvalues: the flattest directions of the patches (noise, JPEG blocks) are not blown up.
EPSILON = 5e-4
# Patches the covariance is estimated from at most (drawn at random beyond that): a few hundred MB at most,
# where every patch of 5,000 photo-sized images would take tens of GB.
MAX_PATCHES = 500_000


def patch_whitening_kernel(images, kernel_size, filters, epsilon=EPSILON):
    """A convolution kernel `(kh, kw, channels, filters)` that whitens `kernel_size` patches of `images`.

    Args:
        images: `(N, H, W, C)` float array, as the network takes them.
        kernel_size: `(kh, kw)` of the convolution.
        filters: Its number of filters.
        epsilon: Added to each eigenvalue before the inverse square root.

    Returns:
        `(kernel, bias, count)`: the kernel; the bias that centres its
        outputs on these images; how many of its filters were set (the rest
        are zero here and keep their initial values in
        `whiten_first_convolution`).
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (N, height, width, channels); received shape {images.shape}.")
    patches = _patches(images, kernel_size)
    mean = patches.mean(axis=0)
    patches = patches - mean
    eigenvalues, eigenvectors = np.linalg.eigh(patches.T @ patches / len(patches))
    order = np.argsort(eigenvalues)[::-1]  # Strongest directions first.
    whitening = (eigenvectors[:, order] / np.sqrt(eigenvalues[order] + epsilon)).T  # (D, D): one filter a row
    dimension = whitening.shape[0]
    rows = [whitening[:min(filters, dimension)]]
    if filters > dimension:
        rows.append(-whitening[:min(filters - dimension, dimension)])
    rows = np.concatenate(rows)
    kh, kw = kernel_size
    kernel = np.zeros((kh, kw, images.shape[-1], filters))
    kernel[..., :len(rows)] = rows.reshape(len(rows), kh, kw, images.shape[-1]).transpose(1, 2, 3, 0)
    bias = np.zeros(filters)
    bias[:len(rows)] = -(rows @ mean)
    return kernel.astype("float32"), bias.astype("float32"), len(rows)


def _patches(images, kernel_size, limit=None, seed=0):
    """`(P, kh * kw * C)` float64 patches of `images`: all of them, or `limit` (`MAX_PATCHES`) drawn at random."""
    limit = MAX_PATCHES if limit is None else limit
    kh, kw = kernel_size
    count, height, width, channels = images.shape
    rows, columns = height - kh + 1, width - kw + 1
    total = count * rows * columns
    if total <= limit:
        windows = np.lib.stride_tricks.sliding_window_view(images, (kh, kw), axis=(1, 2))  # (N, H', W', C, kh, kw)
        return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * channels).astype(np.float64)
    chosen = np.random.default_rng(seed).choice(total, limit, replace=False)
    image, position = np.divmod(chosen, rows * columns)
    top, left = np.divmod(position, columns)
    patches = images[image[:, None, None], (top[:, None] + np.arange(kh))[:, :, None],
                     (left[:, None] + np.arange(kw))[:, None, :]]  # (P, kh, kw, C)
    return patches.reshape(limit, kh * kw * channels).astype(np.float64)


def first_convolution(model):
    """The model's first `Conv2D` (nested models searched in order)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
            return layer
        if isinstance(layer, keras.Model):
            found = first_convolution(layer)
            if found is not None:
                return found
    return None


def whiten_first_convolution(model, images, epsilon=EPSILON):
    """Sets the first convolution's kernel to whiten the patches of `images`; returns that layer.

    Its bias (if it has one) centres the whitened outputs on these images.

    Args:
        model: A built Keras model whose first convolution reads the images
            (channels last).
        images: A sample of the training images, `(N, H, W, C)`, as the
            model takes them (normalized); a few thousand are plenty.
        epsilon: Added to each eigenvalue.

    Raises:
        ValueError: If the model has no convolution, or the images do not
            have the channels its first convolution reads.
    """
    layer = first_convolution(model)
    if layer is None:
        raise ValueError(f"{model.name!r} has no Conv2D layer to whiten.")
    if keras.config.image_data_format() != "channels_last":
        raise ValueError("Patch whitening is implemented for channels_last images only.")
    kernel = layer.kernel
    if np.shape(images)[-1] != kernel.shape[2] or len(np.shape(images)) != 4:
        raise ValueError(
            f"{model.name!r}'s first convolution {layer.name!r} reads {kernel.shape[2]} channel(s); the images "
            f"to whiten have shape {np.shape(images)}. Pass training images as the model takes them."
        )
    values, bias, count = patch_whitening_kernel(images, kernel.shape[:2], kernel.shape[3], epsilon)
    current = keras.ops.convert_to_numpy(kernel)
    values[..., count:] = current[..., count:]
    kernel.assign(values.astype(current.dtype))
    if getattr(layer, "bias", None) is not None:
        current_bias = keras.ops.convert_to_numpy(layer.bias)
        bias[count:] = current_bias[count:]
        layer.bias.assign(bias.astype(current_bias.dtype))
    return layer

"""Keras' `Conv2D` computes a cross-correlation; flipping the kernel gives the true convolution.

The convolution of signal processing flips the kernel before sliding it:

    (I * K)[i, j] = sum_{u, v} I[i + u, j + v] K[k - 1 - u, k - 1 - v]

while what deep-learning libraries call a convolution does not:

    (I x K)[i, j] = sum_{u, v} I[i + u, j + v] K[u, v]        (cross-correlation)

For a learned kernel the difference does not matter (the network learns the
flipped kernel instead), but it does when a known kernel is applied, e.g. an
edge detector from a textbook. `demonstrate` runs both formulas, written out
in NumPy, and a `keras.layers.Conv2D` holding the kernel, and reports how far
apart they are; run it with `python -m keras_cnns.inspect.correlation`.
"""

import dataclasses

import keras
import numpy as np

# An asymmetric kernel, so that flipping it changes the result: a Sobel-like
# derivative along x plus a ramp along y.
EXAMPLE_KERNEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [3.0, 1.0, -1.0]], dtype=np.float32)


def cross_correlate2d(image, kernel):
    """`out[i, j] = sum_{u, v} image[i + u, j + v] kernel[u, v]` ('valid': no padding)."""
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    _check_2d(image, kernel)
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for u in range(kh):
        for v in range(kw):
            out += kernel[u, v] * image[u:u + out.shape[0], v:v + out.shape[1]]
    return out


def convolve2d(image, kernel):
    """The true convolution ('valid'): cross-correlation with the kernel flipped on both axes."""
    return cross_correlate2d(image, np.asarray(kernel)[::-1, ::-1])


def keras_conv2d(image, kernel):
    """Applies `keras.layers.Conv2D` (one filter, no bias, 'valid') holding `kernel` to `image`."""
    image = np.asarray(image, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float32)
    _check_2d(image, kernel)
    layer = keras.layers.Conv2D(1, kernel.shape, padding="valid", use_bias=False,
                                data_format="channels_last")
    layer.build((1, *image.shape, 1))
    layer.set_weights([kernel[:, :, None, None]])
    return np.asarray(keras.ops.convert_to_numpy(layer(image[None, :, :, None])))[0, :, :, 0]


@dataclasses.dataclass(frozen=True)
class CorrelationDemo:
    """Largest absolute differences between Keras' `Conv2D` and the two formulas.

    Attributes:
        keras_vs_cross_correlation: ~0: `Conv2D` is a cross-correlation.
        keras_vs_convolution: large for an asymmetric kernel.
        flipped_keras_vs_convolution: ~0: `Conv2D` with the flipped kernel
            is the true convolution.
    """

    keras_vs_cross_correlation: float
    keras_vs_convolution: float
    flipped_keras_vs_convolution: float


def demonstrate(image=None, kernel=EXAMPLE_KERNEL, seed=0):
    """Runs Keras' `Conv2D`, the cross-correlation and the convolution on one image.

    Args:
        image: 2-D array; default a random 8x8 image.
        kernel: 2-D kernel; default `EXAMPLE_KERNEL`.
        seed: Seed of the random image.

    Returns:
        A `CorrelationDemo`.
    """
    if image is None:
        image = np.random.default_rng(seed).uniform(0, 1, size=(8, 8)).astype(np.float32)
    by_keras = keras_conv2d(image, kernel)
    flipped = keras_conv2d(image, np.asarray(kernel)[::-1, ::-1])
    return CorrelationDemo(
        keras_vs_cross_correlation=float(np.abs(by_keras - cross_correlate2d(image, kernel)).max()),
        keras_vs_convolution=float(np.abs(by_keras - convolve2d(image, kernel)).max()),
        flipped_keras_vs_convolution=float(np.abs(flipped - convolve2d(image, kernel)).max()),
    )


def _check_2d(image, kernel):
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(
            f"Expected a 2-D image and a 2-D kernel; received shapes {image.shape} and "
            f"{kernel.shape}. Take one channel, e.g. image[..., 0]."
        )
    if kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]:
        raise ValueError(
            f"The kernel {kernel.shape} is larger than the image {image.shape}; 'valid' "
            "correlation needs the kernel to fit inside the image."
        )


def main():
    """Prints the demonstration."""
    demo = demonstrate()
    print("Kernel:\n", EXAMPLE_KERNEL)
    print(f"max |Conv2D - cross-correlation|          = {demo.keras_vs_cross_correlation:.2e}")
    print(f"max |Conv2D - convolution|                = {demo.keras_vs_convolution:.2e}")
    print(f"max |Conv2D(flipped kernel) - convolution| = {demo.flipped_keras_vs_convolution:.2e}")
    print("Keras' Conv2D is a cross-correlation; flip the kernel to get the true convolution.")


if __name__ == "__main__":
    main()

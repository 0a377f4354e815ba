"""Sizes through convolutions and poolings, and the smallest input a network takes."""

import math


def conv_output_size(size, kernel, stride, padding):
    """Output size of a convolution or pooling: (W - K + 2P) / S + 1, floored.

    `padding` is `"same"` (output ceil(W / S)), `"valid"` or an int P.
    """
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    pad = 0 if padding == "valid" else padding
    return (size - kernel + 2 * pad) // stride + 1


def smallest_input_size(output_size, limit=4096):
    """The smallest input size for which `output_size(size)` is at least 1.

    `output_size` follows one spatial dimension through the network's
    convolutions and poolings, with `conv_output_size`.
    """
    for size in range(1, limit):
        if output_size(size) >= 1:
            return size
    raise ValueError(f"No input size up to {limit} fits this network.")

"""PNG pictures of what a network computes (matplotlib, Agg, written atomically).

As in `keras_cnns.train.plots`, figures are built with
`matplotlib.figure.Figure` directly, never `pyplot`, so nothing depends on
or changes the global backend; `keras_cnns.train.atomic.save_figure` writes them.
"""

import math
import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_cnns.train import atomic

MAX_CHANNELS = 64


def plot_feature_maps(maps, path, title, max_channels=MAX_CHANNELS):
    """The channels of one layer's feature maps as a grid of gray images.

    Args:
        maps: float array `(h, w, channels)`.
        path: Output `.png` path.
        title: Figure title (e.g. the layer name).
        max_channels: Show at most this many channels (the first ones).

    Returns:
        `path`.
    """
    maps = np.asarray(maps, dtype=np.float32)
    shown = min(maps.shape[-1], max_channels)
    images = [maps[..., i] for i in range(shown)]
    subtitle = (f"{title}: {maps.shape[0]}x{maps.shape[1]}, {maps.shape[-1]} channels"
                + (f" (first {shown} shown)" if shown < maps.shape[-1] else ""))
    return _grid(images, path, subtitle, labels=[str(i) for i in range(shown)], cmap="viridis")


def plot_kernels(kernel, path, title):
    """A convolution's kernels `(kh, kw, in, filters)` as small images.

    Three input channels are shown in colour, one in gray; other counts as
    the mean over input channels. Each kernel is scaled to its own range.
    """
    kernel = np.asarray(kernel, dtype=np.float32)
    filters = kernel.shape[-1]
    shown = min(filters, MAX_CHANNELS)
    images = []
    for i in range(shown):
        k = kernel[..., i]
        k = k if k.shape[-1] in (1, 3) else k.mean(axis=-1, keepdims=True)
        k = (k - k.min()) / (k.max() - k.min() + 1e-8)
        images.append(k[..., 0] if k.shape[-1] == 1 else k)
    subtitle = f"{title}: {filters} kernels of {kernel.shape[0]}x{kernel.shape[1]}x{kernel.shape[2]}"
    return _grid(images, path, subtitle, labels=[str(i) for i in range(shown)], cmap="gray",
                 interpolation="nearest")


def plot_patterns(patterns, filters, activations, path, title):
    """Gradient-ascent patterns `(n, H, W, C)` in `[0, 1]`, one per filter."""
    patterns = np.asarray(patterns, dtype=np.float32)
    images = [p[..., 0] if p.shape[-1] == 1 else p for p in patterns]
    labels = [f"{f} ({a:.2g})" for f, a in zip(filters, activations)]
    return _grid(images, path, f"{title}: input that excites each filter most (mean activation)",
                 labels=labels, cmap="gray", vmin=0.0, vmax=1.0)


def plot_grad_cam(display, heatmap, path, title):
    """The image, the Grad-CAM heat map, and the two overlaid, side by side.

    Args:
        display: uint8 image `(H, W, C)` (C = 1 or 3).
        heatmap: float map `(H, W)` in `[0, 1]`.
        path: Output `.png` path.
        title: Figure title (class and probability).

    Returns:
        `path`.
    """
    display = np.asarray(display)
    image = display[..., 0] if display.shape[-1] == 1 else display
    cmap = "gray" if display.shape[-1] == 1 else None
    figure = Figure(figsize=(9, 3.4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3)
    axes[0].imshow(image, cmap=cmap, vmin=0, vmax=255)
    axes[0].set_title("image")
    shown = axes[1].imshow(heatmap, cmap="jet", vmin=0.0, vmax=1.0)
    axes[1].set_title("Grad-CAM")
    figure.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(image, cmap=cmap, vmin=0, vmax=255)
    axes[2].imshow(heatmap, cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
    axes[2].set_title("overlay")
    for ax in axes:
        ax.axis("off")
    figure.suptitle("\n".join(textwrap.wrap(title, 90)), fontsize=9)
    figure.tight_layout()
    atomic.save_figure(figure, path)
    return path


def _grid(images, path, title, labels, cmap, **imshow):
    columns = min(8, len(images)) or 1
    rows = max(1, math.ceil(len(images) / columns))
    figure = Figure(figsize=(1.6 * columns, 1.6 * rows + 0.6))
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, image, label in zip(axes, images, labels):
        ax.imshow(image, cmap=cmap, **imshow)
        ax.set_title(label, fontsize=7)
    figure.suptitle(title, fontsize=9)
    atomic.save_figure(figure, path)
    return path

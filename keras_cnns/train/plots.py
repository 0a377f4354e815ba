"""Plots of a run: learning curves and the confusion matrix (matplotlib, Agg).

Figures are built with `matplotlib.figure.Figure` directly, not `pyplot`, so
nothing depends on (or changes) the global backend, and saved atomically.
"""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from keras_cnns.train import atomic


def plot_learning_curves(history_rows, path):
    """Loss and accuracy per epoch, training and validation, saved as PNG.

    Args:
        history_rows: Rows as in history.csv (dicts with `epoch`, `loss`,
            `accuracy` and optionally `val_loss`, `val_accuracy`).
        path: Output `.png` path.
    """
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    epochs = [row["epoch"] + 1 for row in history_rows]
    for axes, metric in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for key, label in ((metric, "training"), (f"val_{metric}", "validation")):
            values = [row.get(key) for row in history_rows]
            if any(value is not None for value in values):
                axes.plot(epochs, values, marker="o", label=label)
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.set_title(metric.capitalize())
        axes.grid(alpha=0.3)
        axes.legend()
    atomic.save_figure(figure, path)


def plot_confusion_matrix(matrix, class_names, path):
    """A confusion matrix (rows: true class, columns: predicted) as PNG.

    Args:
        matrix: Square array of counts.
        class_names: Class names, indexed by label.
        path: Output `.png` path.
    """
    matrix = np.asarray(matrix)
    size = max(4.0, 0.6 * len(class_names) + 2)
    figure = Figure(figsize=(size + 1, size))
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes)
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, labels=class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(class_names) <= 20:
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > threshold else "black")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    axes.set_title(f"Confusion matrix (accuracy {accuracy:.4f})")
    atomic.save_figure(figure, path)

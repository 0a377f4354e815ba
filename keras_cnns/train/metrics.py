"""Test metrics of a trained classifier: accuracy, loss, per-class accuracy, confusion."""

import keras
import numpy as np


# Evaluation gathers the dataset's batches into batches of at least this many pixel values (256 RGB
# images of 32x32, 1,004 Fashion-MNIST images): inference holds no activations for a backward pass, and a
# training batch is often small (16 images for fine-tuning on a few hundred), where running each one alone
# made evaluation 1.6-9.4 times slower in two runs (BENCHMARKS.md, "Inner loops").
INFERENCE_BATCH_VALUES = 256 * 32 * 32 * 3


def predict_with_labels(model, dataset, verbose=0):
    """Runs `model` over a dataset of `(images, labels)` in one pass.

    One pass, so predictions and labels stay paired even if the dataset is
    shuffled. The dataset's batches are gathered until they hold
    `INFERENCE_BATCH_VALUES` pixel values and run together (a batch as
    large already runs alone); the last, smaller gathering is padded to the
    size of the first, so that the model is traced once. In inference mode
    no image's output depends on the others in its batch: the gathering
    changes the speed and the float rounding, not the predictions.

    Args:
        model: A Keras model with one output.
        dataset: Iterable of `(images, labels)` batches, e.g. a `tf.data.Dataset`.
        verbose: 1 shows a progress bar over the dataset's batches.

    Returns:
        `(probabilities (N, classes) float32, labels (N,) int64)`.
    """
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) > 1:
        raise ValueError(
            f"Evaluation takes a classifier with one output; received {model.name!r} with "
            f"{len(outputs)} outputs. Build it with its auxiliary outputs switched off (e.g. GoogLeNet's "
            "`include_aux=False`) or pass a keras.Model over its main output."
        )
    probabilities, labels, pending, size = [], [], [], None
    pending_values = 0  # Pixel values gathered in `pending`.
    progress = keras.utils.Progbar(_batch_count(dataset), unit_name="batch") if verbose else None

    def run_pending():
        nonlocal size, pending_values
        images = np.concatenate(pending)
        count = len(images)
        size = size or count
        if count < size:
            images = np.concatenate([images, np.zeros((size - count, *images.shape[1:]), images.dtype)])
        outputs = model.predict_on_batch(images)
        probabilities.append(np.asarray(keras.ops.convert_to_numpy(outputs), dtype=np.float32)[:count])
        pending.clear()
        pending_values = 0

    for images, batch_labels in dataset:
        # numpy, not tf tensors: JAX and torch models take arrays from tf.data too.
        pending.append(np.asarray(images))
        pending_values += pending[-1].size
        labels.append(np.asarray(batch_labels).reshape(-1))
        if pending_values >= INFERENCE_BATCH_VALUES:
            run_pending()
        if progress is not None:
            progress.add(1)
    if pending:
        run_pending()
    if not labels:
        raise ValueError(
            "The evaluation dataset is empty. Pass a dataset with at least one batch "
            "of (images, labels)."
        )
    return np.concatenate(probabilities), np.concatenate(labels).astype(np.int64)


def confusion_matrix(labels, predictions, num_classes):
    """Counts `(true class, predicted class)` pairs: rows are true classes."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predictions), 1)
    return matrix


def classification_metrics(model, dataset, class_names, loss=None, verbose=0):
    """Accuracy, loss, per-class accuracy and confusion matrix on a dataset.

    Args:
        model: A classifier with softmax outputs.
        dataset: `tf.data.Dataset` of `(images, int labels)`.
        class_names: Class names, indexed by label.
        loss: Loss object for `test_loss` (`train` passes the training
            loss, with its label smoothing; weight decay is not included);
            default `model.loss` if the model is compiled, else plain
            cross-entropy.
        verbose: 1 shows a progress bar over the batches.

    Returns:
        Dict with `test_accuracy`, `test_loss`, `num_test`,
        `per_class_accuracy` (class name -> accuracy, None for a class with no
        test examples), `confusion_matrix` (list of rows, true class by
        predicted class) and `class_names`.
    """
    probabilities, labels = predict_with_labels(model, dataset, verbose=verbose)
    num_classes = len(class_names)
    if probabilities.shape[-1] != num_classes:
        raise ValueError(
            f"The model predicts {probabilities.shape[-1]} classes but the dataset has "
            f"{num_classes} ({class_names}). Evaluate on the dataset the model was "
            "trained on."
        )
    predictions = probabilities.argmax(axis=-1)
    matrix = confusion_matrix(labels, predictions, num_classes)
    loss = loss or getattr(model, "loss", None) or keras.losses.SparseCategoricalCrossentropy()
    test_loss = float(keras.ops.convert_to_numpy(loss(labels, probabilities)))
    support = matrix.sum(axis=1)
    return {
        "test_accuracy": float(np.mean(predictions == labels)),
        "test_loss": test_loss,
        "num_test": int(len(labels)),
        "per_class_accuracy": {
            name: (float(matrix[i, i] / support[i]) if support[i] else None)
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
        "class_names": list(class_names),
    }


def _batch_count(dataset):
    """Number of batches of a `tf.data.Dataset` when it is known, else None."""
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is None:
        return None
    count = int(cardinality())
    return count if count >= 0 else None

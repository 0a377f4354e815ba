"""`TFLiteClassifier`: classify image files, PIL images or arrays with an exported `.tflite`."""

import os

import numpy as np

from keras_cnns.data.preprocessing import normalize
from keras_cnns.inference.images import to_pixel_batch
from keras_cnns.inference import model_card
from keras_cnns.inference.runner import DEFAULT_BATCH_SIZE, TFLiteRunner

# Sentinel: take the normalization from the model card.
FROM_CARD = "card"


class TFLiteClassifier:
    """An image classifier backed by a `.tflite` file and its model card.

    Inputs of any size and channel count are decoded, resized and converted
    to the model's input (see `keras_cnns.inference.images`), normalized as
    the model card says (`(pixels / 255 - mean) / std`), quantized for int8
    files, and run as one batch (the input tensor is resized to the batch).

    Args:
        path: A `.tflite` file, or a folder written by `keras-cnns export`
            (e.g. `saved_models/lenet5_fashion_mnist`).
        format: For a folder, the TFLite format to load (`"int8"`,
            `"float32"`, `"float16"`, `"dynamic"`); default: int8 if
            exported, else float32.
        class_names: Override the card's class names (needed for labels
            when there is no card; default then `"0"`, `"1"`, ...).
        normalization: `"card"` (default: from `model_card.json`), a dict
            `{"mean": [...], "std": [...]}` in `[0, 1]` pixel scale, or None
            for a model that takes raw pixels in `[0, 255]`.
        num_threads: Interpreter threads (default 1).
        check_sha256: Check the file against the SHA-256 in its card.

    Raises:
        FileNotFoundError: If there is no model at `path`.
        ValueError: If the file does not match its card's SHA-256, or there
            is no card and `normalization` was not given.

    Example:

    ```python
    classifier = TFLiteClassifier("saved_models/lenet5_fashion_mnist")
    classifier.top_k("boot.jpg", k=3)   # [[("Ankle boot", 0.97), ("Sneaker", 0.02), ...]]
    ```
    """

    def __init__(self, path, *, format=None, class_names=None, normalization=FROM_CARD, num_threads=None,
                 check_sha256=True):
        self.path, self.card, self.format = model_card.resolve_tflite_path(path, format)
        if check_sha256 and self.card is not None:
            model_card.check_sha256(self.path, self.card)
        self.runner = TFLiteRunner(self.path, num_threads=num_threads)
        card_input = (self.card or {}).get("input", {})
        self.normalization = self._resolve_normalization(normalization, card_input)
        num_classes = self.runner.output_shape[-1]
        self.class_names = list(class_names or (self.card or {}).get("class_names")
                                or [str(i) for i in range(num_classes)])
        if len(self.class_names) != num_classes:
            raise ValueError(
                f"{self.path} predicts {num_classes} classes but {len(self.class_names)} class "
                f"names were given ({self.class_names[:5]}...). Pass one name per class."
            )
        activation = (self.card or {}).get("output", {}).get("activation", "softmax")
        # Softmax and sigmoid outputs are probabilities already (a sigmoid's
        # are per class, and need not sum to 1); anything else is logits.
        self.outputs_probabilities = activation in ("softmax", "sigmoid")

    @property
    def image_shape(self):
        """`(height, width, channels)` the model takes."""
        return self.runner.input_shape

    def preprocess(self, images):
        """Images -> float32 model inputs (resized, converted, normalized), before quantization."""
        pixels = to_pixel_batch(images, self.image_shape)
        if self.normalization is None:
            return pixels
        return normalize(pixels, self.normalization)

    def predict(self, images, *, batch_size=DEFAULT_BATCH_SIZE):
        """Class probabilities for one image or a batch.

        Args:
            images: Image file path(s), PIL image(s) or pixel arrays in
                `[0, 255]` of any size and channel count (see
                `keras_cnns.inference.images.to_pixel_batch`).
            batch_size: Images per interpreter call.

        Returns:
            float32 array `(N, num_classes)`, one row per image (N = 1 for a
            single image). For int8 files, probabilities come in steps of
            the output scale (1/256).

        Raises:
            FileNotFoundError, ValueError: For a missing file, a non-image
                file, a wrong-rank array or NaN pixels, naming which.
        """
        outputs = self.runner.run(self.preprocess(images), batch_size=batch_size)
        if self.outputs_probabilities:
            return outputs
        shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

    def top_k(self, images, k=5, *, batch_size=DEFAULT_BATCH_SIZE):
        """The `k` most probable classes of each image.

        Returns:
            A list with, per image, a list of `(class_name, probability)`
            pairs, most probable first.

        Raises:
            ValueError: If `k` is not a positive int.
        """
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a positive int; received {k!r}. Pass for example k=3.")
        probabilities = self.predict(images, batch_size=batch_size)
        k = min(k, probabilities.shape[-1])
        # A stable sort keeps the lower class index first among ties (int8 probabilities tie often).
        order = np.argsort(-probabilities, axis=-1, kind="stable")[:, :k]
        return [[(self.class_names[c], float(row[c])) for c in indices]
                for row, indices in zip(probabilities, order)]

    def __repr__(self):
        return (f"TFLiteClassifier({self.path!r}, format={self.format!r}, image_shape={self.image_shape}, "
                f"classes={len(self.class_names)})")

    def _resolve_normalization(self, normalization, card_input):
        if isinstance(normalization, str) and normalization != FROM_CARD:
            raise ValueError(
                f"normalization must be 'card', a dict with 'mean' and 'std', or None; received "
                f"{normalization!r}."
            )
        if normalization != FROM_CARD:
            return normalization
        if self.card is None:
            raise ValueError(
                f"No model card ({os.path.basename(self.path)} has no model_card.json beside it), so "
                "the input normalization is unknown. Keep the file in its export folder (or copy the "
                "folder's model_card.json beside it), or pass normalization={'mean': [...], 'std': "
                "[...]} as in training, or normalization=None for a model that takes raw [0, 255] pixels."
            )
        if card_input.get("normalization_folded"):
            return None
        return card_input.get("normalization")


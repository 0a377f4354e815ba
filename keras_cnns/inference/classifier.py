"""`TFLiteClassifier`: classify image files, PIL images or arrays with an exported `.tflite`."""

import dataclasses
import os

import numpy as np

from keras_cnns.data.preprocessing import normalize
from keras_cnns.inference import model_card
from keras_cnns.inference.calibration import calibrate
from keras_cnns.inference.images import load_images, prepare_images
from keras_cnns.inference.photos import DatasetLook, background_level, corner_levels, luma, point_matrix
from keras_cnns.inference.runner import DEFAULT_BATCH_SIZE, TFLiteRunner

# Sentinel: take the setting from the model card.
FROM_CARD = "card"
UNSURE = "unsure"


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The answer for one image.

    Attributes:
        label: The most probable class, or `"unsure"` when its probability
            is below the `min_confidence` asked for.
        probability: That class's (calibrated) probability.
        top_k: `(class name, probability)` pairs, most probable first.
        notes: What the photo preparation did or saw (`"negated"`,
            `"cut out"`, `"background not plain"`).
    """

    label: str
    probability: float
    top_k: list
    notes: tuple = ()

    @property
    def unsure(self):
        return self.label == UNSURE


class TFLiteClassifier:
    """An image classifier backed by a `.tflite` file and its model card.

    For a standard file (`float32`, `int8`, ...), each image is decoded,
    prepared to look like the dataset's images when the card records the
    dataset's look (`keras_cnns.inference.photos.prepare_photo`: a product
    photo, dark on white and off-centre, becomes what the network learned
    from), else converted and resized; normalized as the card says; quantized
    for int8 files; run as one batch. The probabilities are calibrated with
    the card's temperature (`keras_cnns.inference.calibration`).

    A mobile file (`mobile_float32`, `mobile_int8`) prepares images in its
    own graph: each image is padded to a square with its background colour
    and resized as MediaPipe resizes, then passed as uint8 RGB pixels.

    Only numpy, Pillow and `ai-edge-litert` are imported.

    Args:
        path: A `.tflite` file, or a folder written by `keras-cnns export`
            (e.g. `saved_models/lenet5_fashion_mnist`).
        format: For a folder, the TFLite format to load (`"int8"`,
            `"float32"`, `"mobile_int8"`, ...); default: int8 if exported,
            else float32.
        class_names: Override the card's class names (needed for labels
            when there is no card; default then `"0"`, `"1"`, ...).
        normalization: `"card"` (default: from `model_card.json`), a dict
            `{"mean": [...], "std": [...]}` in `[0, 1]` pixel scale, or None
            for a model that takes raw pixels in `[0, 255]`.
        look: `"card"` (default), a `DatasetLook`, or None (no photo
            preparation: images are only converted and resized).
        temperature: `"card"` (default), or a number (1: raw probabilities).
        num_threads: Interpreter threads (default 1).
        check_sha256: Check every file the card names against its SHA-256.

    Raises:
        FileNotFoundError: If there is no model at `path`.
        ValueError: If the file does not match its card's SHA-256, the card
            is malformed, or there is no card and `normalization` was not
            given.

    Example:

    ```python
    classifier = TFLiteClassifier("saved_models/lenet5_fashion_mnist")
    classifier.top_k("boot.jpg", k=3)   # [[("Ankle boot", 0.97), ("Sneaker", 0.02), ...]]
    ```
    """

    def __init__(self, path, *, format=None, class_names=None, normalization=FROM_CARD, look=FROM_CARD,
                 temperature=FROM_CARD, num_threads=None, check_sha256=True):
        self.path, self.card, self.format = model_card.resolve_tflite_path(path, format)
        if check_sha256 and self.card is not None:
            model_card.check_sha256(self.path, self.card)
        self.runner = TFLiteRunner(self.path, num_threads=num_threads)
        card_input = (self.card or {}).get("input", {})
        self.mobile = self.runner.input_dtype == np.uint8 and self.runner.input_shape[-1] == 3 and bool(
            (self.format or "").startswith("mobile"))
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
        if self.mobile:  # Its graph prepares, normalizes and calibrates.
            self.normalization, self.look, self.temperature = None, None, 1.0
            return
        self.normalization = self._resolve_normalization(normalization, card_input)
        self.look = self._resolve_look(look, card_input)
        self.temperature = self._resolve_temperature(temperature, activation)

    @property
    def image_shape(self):
        """`(height, width, channels)` the model takes."""
        return self.runner.input_shape

    def preprocess(self, images):
        """Images -> model inputs (prepared, resized, normalized), before quantization."""
        return self._prepare(images)[0]

    def predict(self, images, *, batch_size=DEFAULT_BATCH_SIZE):
        """Class probabilities for one image or a batch.

        Args:
            images: Image file path(s), PIL image(s) or pixel arrays in
                `[0, 255]` of any size and channel count (see
                `keras_cnns.inference.images.to_pixel_batch`).
            batch_size: Images per interpreter call.

        Returns:
            float32 array `(N, num_classes)`, one row per image (N = 1 for a
            single image), calibrated with the card's temperature. For int8
            files, probabilities come in steps of the output scale (1/256)
            before calibration.

        Raises:
            FileNotFoundError, ValueError: For a missing file, a non-image
                file, a wrong-rank array or NaN pixels, naming which.
        """
        return self._probabilities(self._prepare(images)[0], batch_size)

    def classify(self, images, *, k=3, min_confidence=None, batch_size=DEFAULT_BATCH_SIZE):
        """A `Prediction` per image: the class, or `"unsure"` below `min_confidence`.

        Args:
            images: As for `predict`.
            k: Classes kept in `top_k`.
            min_confidence: None, or a probability in `[0, 1]`: an image whose
                most probable class is less probable is answered `"unsure"`.

        Raises:
            ValueError: If `k` is not a positive int or `min_confidence` is
                outside `[0, 1]`.
        """
        _check_k(k)
        if min_confidence is not None and not (isinstance(min_confidence, (int, float))
                                               and not isinstance(min_confidence, bool) and 0 <= min_confidence <= 1):
            raise ValueError(
                f"min_confidence must be a probability in [0, 1]; received {min_confidence!r}. Pass for example 0.5."
            )
        inputs, notes = self._prepare(images)
        probabilities = self._probabilities(inputs, batch_size)
        predictions = []
        for row, image_notes in zip(probabilities, notes):
            top = _top_k(row, k, self.class_names)
            best_label, best = top[0]
            label = UNSURE if min_confidence is not None and best < min_confidence else best_label
            predictions.append(Prediction(label=label, probability=best, top_k=top, notes=image_notes))
        return predictions

    def top_k(self, images, k=5, *, batch_size=DEFAULT_BATCH_SIZE):
        """The `k` most probable classes of each image.

        Returns:
            A list with, per image, a list of `(class_name, probability)`
            pairs, most probable first.

        Raises:
            ValueError: If `k` is not a positive int.
        """
        _check_k(k)
        probabilities = self.predict(images, batch_size=batch_size)
        return [_top_k(row, k, self.class_names) for row in probabilities]

    def __repr__(self):
        return (f"TFLiteClassifier({self.path!r}, format={self.format!r}, image_shape={self.image_shape}, "
                f"classes={len(self.class_names)})")

    def _prepare(self, images):
        """`(model inputs, notes per image)`."""
        if self.mobile:
            height, width, _ = self.image_shape
            batch = np.stack([_as_mediapipe_input(_squared(image), height, width) for image in load_images(images)])
            return batch, [()] * len(batch)
        prepared = prepare_images(images, self.image_shape, self.look)
        if self.look is not None:
            pixels = np.stack([photo.pixels for photo in prepared])
            notes = [tuple(note for note, on in (("negated", photo.negated), ("cut out", photo.cut_out),
                                                 ("background not plain", not photo.plain_background)) if on)
                     for photo in prepared]
        else:
            pixels = np.concatenate(prepared)
            notes = [()] * len(pixels)
        if self.normalization is not None:
            pixels = normalize(pixels, self.normalization)
        return pixels, notes

    def _probabilities(self, inputs, batch_size):
        if self.mobile:
            outputs = self.runner.run_raw(inputs, batch_size=batch_size)
            return self.runner.dequantize_output(outputs)
        outputs = self.runner.run(inputs, batch_size=batch_size)
        if self.outputs_probabilities:
            return calibrate(outputs, self.temperature) if self.temperature != 1.0 else outputs
        shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)

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

    def _resolve_look(self, look, card_input):
        if look is None or isinstance(look, DatasetLook):
            return look
        if look != FROM_CARD:
            raise ValueError(f"look must be 'card', a DatasetLook or None; received {look!r}.")
        recorded = card_input.get("dataset_look")
        return None if recorded is None else DatasetLook.from_dict(recorded)

    def _resolve_temperature(self, temperature, activation):
        if temperature == FROM_CARD:
            calibration = (self.card or {}).get("calibration") or {}
            temperature = calibration.get("temperature", 1.0)
        if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature > 0:
            raise ValueError(f"temperature must be a positive number or 'card'; received {temperature!r}.")
        return float(temperature) if activation == "softmax" else 1.0


def _check_k(k):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive int; received {k!r}. Pass for example k=3.")


def _top_k(row, k, class_names):
    k = min(k, len(row))
    # A stable sort keeps the lower class index first among ties (int8 probabilities tie often).
    order = np.argsort(-row, kind="stable")[:k]
    return [(class_names[c], float(row[c])) for c in order]


def _as_mediapipe_input(pixels, height, width):
    """`(H, W, 3)` pixels resized to the mobile input as MediaPipe resizes, as uint8."""
    resized = np.einsum("hH,HWc,wW->hwc", point_matrix(pixels.shape[0], height), pixels,
                        point_matrix(pixels.shape[1], width), optimize=True)
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def _squared(pixels):
    """Pixels as RGB `(S, S, 3)`, padded to a square with the colour of their background (the corners' median)."""
    pixels = np.asarray(pixels, np.float32)
    pixels = np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels[..., :3]
    height, width, _ = pixels.shape
    side = max(height, width)
    gray = luma(pixels)
    level = background_level(corner_levels(gray))
    corners = [pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]]
    colour = min(corners, key=lambda c: abs(float(luma(c[None, None])[0, 0]) - level))
    canvas = np.empty((side, side, 3), np.float32)
    canvas[...] = colour
    top, left = (side - height) // 2, (side - width) // 2
    canvas[top:top + height, left:left + width] = pixels
    return canvas

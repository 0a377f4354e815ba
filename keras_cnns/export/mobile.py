"""The mobile graph: camera pixels in, calibrated class probabilities out.

MediaPipe Tasks' `ImageClassifier` (and Android Studio's ML Model Binding)
take a model whose input is `1 x H x W x 3` RGB and whose output is a
probability vector; they resize the app's image to `H x W` and pass its
pixels as they are (uint8). `build_mobile_model` wraps a trained classifier
so that the graph itself does everything else the network needs:

* `PhotoPreparation`: the steps of `keras_cnns.inference.photos.prepare_photo`
  in `keras.ops` (background polarity and levels, the object cut out and
  centred, sharpened, or the whole image sampled back from MediaPipe's
  upscaling), RGB to grayscale for a one-channel network, the resize
  training did, and the dataset's normalization;
* the network;
* temperature scaling folded into the classifier (`softmax(z / T)`), so the
  scores an app shows are calibrated (`keras_cnns.export.calibration`).

For a dataset with a look (one object on a plain background), the input is
`MOBILE_SCALE` times the dataset's own size, at least 224 pixels: MediaPipe
scales a photo down to it and the graph cuts the object out at that
resolution; a dataset image scaled up by MediaPipe is sampled back exactly.
For other datasets the input is the network's own size.

Only `keras.layers` and `keras.ops`: the graph builds on every backend; the
TFLite conversion (`keras_cnns.export.tflite`) needs TensorFlow.
"""

import math
import os
import tempfile

import keras
import numpy as np
from keras import ops

from keras_cnns.data.resample import KERNELS, resample_matrix
from keras_cnns.inference import photos

# A mobile input is at least this many pixels on its shorter side, a whole multiple of the dataset's size.
MIN_MOBILE_SIZE = 224


def mobile_input_size(image_shape, look):
    """`(height, width)` of the mobile file's input.

    The smallest whole multiple of the dataset's size (`look.image_size`)
    with both sides at least `MIN_MOBILE_SIZE`; the network's own size when
    there is no look.
    """
    if look is None:
        return tuple(image_shape[:2])
    height, width = look.image_size
    factor = math.ceil(MIN_MOBILE_SIZE / min(height, width))
    return height * factor, width * factor


class PhotoPreparation(keras.layers.Layer):
    """uint8 RGB images `(B, H, W, 3)` -> the network's normalized input, as `prepare_photo`.

    Args:
        image_shape: The network's `(height, width, channels)`.
        look: A `DatasetLook` dict (`DatasetLook.to_dict()`), or None: only
            resize, convert channels and normalize.
        normalization: `{"mean": [...], "std": [...]}`, or None for a
            network that takes pixels in `[0, 255]`.
    """

    def __init__(self, image_shape, look=None, normalization=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(side) for side in image_shape)
        self.look = None if look is None else photos.DatasetLook.from_dict(look)
        self.normalization = normalization

    def get_config(self):
        return {**super().get_config(), "image_shape": list(self.image_shape),
                "look": None if self.look is None else self.look.to_dict(), "normalization": self.normalization}

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_shape)

    def call(self, images):
        x = ops.cast(images, "float32")
        height, width, channels = self.image_shape
        if self.look is not None:
            x = self._as_dataset_image(x)  # (B, h, w, C) at the dataset's size, whole gray levels
            frame = self.look.image_size
        else:
            frame = tuple(x.shape[1:3])
        if channels == 1 and x.shape[-1] == 3:
            x = ops.round(ops.sum(x * _constant(photos.LUMA), axis=-1, keepdims=True))
        elif channels == 3 and x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if frame != (height, width):  # As training resizes.
            x = ops.clip(ops.round(_resample(resample_matrix(frame[0], height), x,
                                             resample_matrix(frame[1], width))), 0.0, 255.0)
        if self.normalization is None:
            return x
        mean = _constant(self.normalization["mean"])
        std = _constant(self.normalization["std"])
        return (x / 255.0 - mean) / std

    def _as_dataset_image(self, x):
        look, channels = self.look, self.image_shape[2]
        frame_height, frame_width = x.shape[1], x.shape[2]
        height, width = look.image_size
        if look.background == "light":
            x = 255.0 - x
        gray = ops.sum(x * _constant(photos.LUMA), axis=-1)  # (B, H, W)
        corners = _corner_levels(gray)
        background = (ops.sum(corners, axis=1) - ops.max(corners, axis=1) - ops.min(corners, axis=1)) / 2.0
        negated = ops.cast(background > 127.5, "float32")
        x = x + _expand(negated, 3) * (255.0 - 2.0 * x)
        gray = gray + _expand(negated, 2) * (255.0 - 2.0 * gray)
        background = background + negated * (255.0 - 2.0 * background)
        level = float(look.background_level)
        adjust = ops.cast(ops.abs(background - level) > photos.THRESHOLD, "float32")
        gain = (255.0 - level) / ops.maximum(255.0 - background, photos.MIN_RANGE)
        x = x + _expand(adjust, 3) * (level + ops.relu(x - _expand(background, 3)) * _expand(gain, 3) - x)
        gray = gray + _expand(adjust, 2) * (level + ops.relu(gray - _expand(background, 2)) * _expand(gain, 2) - gray)
        source = gray[..., None] if channels == 1 else x

        # The object's box, and the window that holds it as the dataset holds its objects.
        mask = ops.cast(gray > level + photos.THRESHOLD, "float32")
        top, bottom = _extent(ops.max(mask, axis=2), frame_height)
        left, right = _extent(ops.max(mask, axis=1), frame_width)
        found = ops.cast(bottom > top, "float32")
        window_height = ops.maximum(bottom - top, (right - left) * height / width) / look.object_fill
        window_width = window_height * width / height
        centre_y, centre_x = (top + bottom) / 2.0, (left + right) / 2.0
        tolerance = look.tolerance
        fits = ops.cast(
            (ops.abs(window_height - frame_height) <= tolerance * frame_height)
            & (ops.abs(window_width - frame_width) <= tolerance * frame_width)
            & (ops.abs(centre_y - frame_height / 2.0) <= tolerance * frame_height)
            & (ops.abs(centre_x - frame_width / 2.0) <= tolerance * frame_width), "float32")
        whole = 1.0 - found * (1.0 - fits)  # 1: keep the whole image, 0: cut the object out

        # The window is at most the frame's longer side (in the output's proportions) over the fill.
        widest = max(1.0, max(frame_height / height, frame_width / width) / look.object_fill)
        rows = _window_weights(centre_y - window_height / 2.0, window_height, height, frame_height, widest)
        columns = _window_weights(centre_x - window_width / 2.0, window_width, width, frame_width, widest)
        coverage = ops.sum(rows, axis=2)[:, :, None] * ops.sum(columns, axis=2)[:, None, :]
        cut = _batched_resample(rows, source, columns) + level * (1.0 - coverage[..., None])
        cut = _sharpen(cut)

        if frame_height > height and frame_width > width:
            point_rows, point_columns = photos.point_matrix(frame_height, height), photos.point_matrix(frame_width, width)
            samples = _resample(point_rows, gray[..., None], point_columns)
            rebuilt = _resample(photos.point_matrix(height, frame_height), samples,
                                photos.point_matrix(width, frame_width))
            error = ops.mean(ops.abs(rebuilt[..., 0] - gray), axis=(1, 2))
            upscaled = ops.cast(error < photos.UPSCALED_ERROR, "float32")
            point = _resample(point_rows, source, point_columns)
        else:
            upscaled, point = ops.zeros_like(whole), None
        resized = _resample(resample_matrix(frame_height, height), source, resample_matrix(frame_width, width))
        kept = resized if point is None else resized + _expand(upscaled, 3) * (point - resized)
        out = kept + _expand(1.0 - whole, 3) * (cut - kept)
        out = ops.clip(ops.round(out), 0.0, 255.0)
        return 255.0 - out if look.background == "light" else out


def convert_mobile(model, quantization, *, image_shape, look=None, normalization=None, temperature=1.0,
                   calibration=None, allow_flex_ops=False):
    """The mobile `.tflite` file of a classifier: float32 photo preparation, then the network.

    The two parts are converted apart and chained (`tflite_graphs.chain_tflite`):
    the preparation always in float32, the network in `quantization`
    (`"float32"`, or `"int8"`: int8 weights and activations inside, float32
    at its edges). To write several quantizations of one model, use
    `MobileParts`, which prepares the shared parts once.

    Args:
        model: The trained classifier (`keras.Model`), ending in a softmax.
        quantization: `"float32"` or `"int8"`.
        image_shape: The network's `(height, width, channels)`.
        look: The dataset's `DatasetLook`, or None.
        normalization: The network's input normalization, or None.
        temperature: Folded into the classifier (`softmax(z / T)`).
        calibration: For int8: calibration images in the network's input
            scale (as for `convert_to_tflite`).
        allow_flex_ops: As for `convert_to_tflite`.

    Returns:
        The `.tflite` content (bytes): input `(1, H, W, 3)` uint8 RGB,
        output `(1, classes)` float32 probabilities.
    """
    with tempfile.TemporaryDirectory(prefix="keras_cnns_mobile_") as folder:
        parts = MobileParts(model, folder, image_shape=image_shape, look=look, normalization=normalization,
                            temperature=temperature, allow_flex_ops=allow_flex_ops)
        return parts.convert(quantization, calibration)


class MobileParts:
    """The two halves of one model's mobile files, each made once.

    Every mobile file of a model chains the same float32 photo preparation
    to the same calibrated network; only the network's quantization differs.
    The first `convert` converts the preparation and writes the network's
    SavedModel into `folder` (`folder/mobile_network`); each later
    quantization then costs only its own conversion of that SavedModel.

    Args:
        model, image_shape, look, normalization, temperature, allow_flex_ops:
            As for `convert_mobile`.
        folder: An existing folder the network's SavedModel is written into;
            the caller removes it when done.

    Example:

    ```python
    parts = MobileParts(model, "staging/parts", image_shape=(28, 28, 1), look=look)
    float_file = parts.convert("float32")
    int8_file = parts.convert("int8", calibration=images)
    ```
    """

    NETWORK = "mobile_network"

    def __init__(self, model, folder, *, image_shape, look=None, normalization=None, temperature=1.0,
                 allow_flex_ops=False):
        self.model = model
        self.folder = os.fspath(folder)
        self.image_shape = tuple(image_shape)
        self.look = look
        self.normalization = normalization
        self.temperature = temperature
        self.allow_flex_ops = allow_flex_ops
        self._preparation = None
        self._network = None

    def convert(self, quantization, calibration=None):
        """The mobile `.tflite` content with the network in `quantization` (as `convert_mobile`)."""
        from keras_cnns.export.tflite import check_tflite_backend, convert_to_tflite
        from keras_cnns.export.tflite_graphs import chain_tflite

        check_tflite_backend()
        network = convert_to_tflite(self._network_saved_model(), quantization, representative_data=calibration,
                                    allow_flex_ops=self.allow_flex_ops, normalization=self.normalization,
                                    integer_io=False)
        return chain_tflite(self._preparation_tflite(), network)

    def _preparation_tflite(self):
        from keras_cnns.export.tflite import convert_to_tflite

        if self._preparation is None:
            height, width = mobile_input_size(self.image_shape, self.look)
            pixels = keras.Input((height, width, 3), dtype="uint8", name="image")
            prepared = _photo_preparation(self.image_shape, self.look, self.normalization)(pixels)
            self._preparation = convert_to_tflite(keras.Model(pixels, prepared), "float32",
                                                  allow_flex_ops=self.allow_flex_ops)
        return self._preparation

    def _network_saved_model(self):
        from keras_cnns.export.tflite import export_saved_model

        if self._network is None:
            network = calibrated_classifier(self.model, self.temperature)
            self._network = export_saved_model(network, os.path.join(self.folder, self.NETWORK))
        return self._network


def calibrated_classifier(model, temperature=1.0):
    """`model` with its softmax taken at temperature `T`: `softmax(logits / T)`, the same weights.

    A model wrapped in test-time augmentation stays wrapped: each view's
    probabilities at `T`, averaged.

    Raises:
        ValueError: If the model does not end in a softmax over one vector.
    """
    from keras_cnns.train.tta import tta_views_of, with_test_time_augmentation, wrapped_classifier

    views = tta_views_of(model)
    if views is not None:
        return with_test_time_augmentation(calibrated_classifier(wrapped_classifier(model), temperature), views)
    logits_model = _logits_model(model)
    inputs = keras.Input(model.input_shape[1:], name="pixels")
    logits = logits_model(inputs)
    if temperature != 1.0:
        logits = keras.layers.Rescaling(1.0 / float(temperature), name="temperature")(logits)
    outputs = keras.layers.Softmax(name="probabilities", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name=f"{model.name}_calibrated")


def build_mobile_model(model, *, image_shape, look=None, normalization=None, temperature=1.0, name=None):
    """The model a phone app runs: uint8 RGB pixels in, calibrated probabilities out.

    Args:
        model: A trained single-output classifier (`keras.Model`) ending in
            a softmax (a `Dense`/`Conv2D` with softmax activation, or a
            `Softmax`/`Activation("softmax")` layer).
        image_shape: The network's `(height, width, channels)`.
        look: The dataset's `DatasetLook`, or None.
        normalization: The network's input normalization, or None.
        temperature: Divides the classifier's logits before the softmax.
        name: The model's name (default: the network's, with `_mobile`).

    Returns:
        A `keras.Model` with input `(None, H, W, 3)` uint8 (`mobile_input_size`)
        and output `(None, classes)` float32.

    Raises:
        ValueError: If the network's output is not one probability vector
            of a softmax (nothing to calibrate, nothing MediaPipe can show).
    """
    network = calibrated_classifier(model, temperature)
    height, width = mobile_input_size(image_shape, look)
    inputs = keras.Input((height, width, 3), dtype="uint8", name="image")
    prepared = _photo_preparation(image_shape, look, normalization)(inputs)
    return keras.Model(inputs, network(prepared), name=name or f"{model.name}_mobile")


def check_mobile_ready(model):
    """Raises unless `model` can become a mobile classifier (one probability vector from a softmax).

    Raises:
        ValueError: Naming what the model outputs and what to change.
    """
    calibrated_classifier(model)


def _photo_preparation(image_shape, look, normalization):
    return PhotoPreparation(image_shape, look=None if look is None else look.to_dict(), normalization=normalization,
                            name="photo_preparation")


def _logits_model(model):
    """`model` without its final softmax: the same weights, outputting the logits."""
    if len(model.outputs) != 1 or len(model.output.shape) != 2:
        raise ValueError(
            f"The mobile format needs a classifier with one output of shape (batch, classes); "
            f"{model.name} outputs {[tuple(output.shape) for output in model.outputs]}. Build it with "
            "include_top=True and a pooling head (e.g. pooling='avg' for head='conv'), without auxiliary outputs."
        )
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    activation_name = getattr(activation, "__name__", None)
    if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and activation_name == "softmax"):
        return keras.Model(model.inputs, last.input, name=f"{model.name}_logits")
    if isinstance(last, (keras.layers.Dense, keras.layers.Conv2D)) and activation_name == "softmax":
        config = {**last.get_config(), "activation": None, "name": f"{last.name}_logits"}
        logits_layer = last.__class__.from_config(config)
        logits = logits_layer(last.input)
        logits_layer.set_weights(last.get_weights())
        return keras.Model(model.inputs, logits, name=f"{model.name}_logits")
    raise ValueError(
        f"The mobile format needs a classifier whose last layer is a softmax (MediaPipe shows its outputs "
        f"as probabilities); {model.name}'s last layer {last.name!r} ({type(last).__name__}) has activation "
        f"{activation_name!r}. Export a model built with classifier_activation='softmax'."
    )


def _constant(values):
    return ops.convert_to_tensor(np.asarray(values, np.float32))


def _expand(values, rank):
    """`(B,)` values broadcastable against a tensor of `rank` + 1 dimensions."""
    return ops.reshape(values, (-1,) + (1,) * rank)


def _corner_levels(gray):
    patch = max(1, min(gray.shape[1], gray.shape[2]) // photos.CORNER_DIVISOR)
    return ops.stack([ops.mean(gray[:, :patch, :patch], axis=(1, 2)), ops.mean(gray[:, :patch, -patch:], axis=(1, 2)),
                      ops.mean(gray[:, -patch:, :patch], axis=(1, 2)), ops.mean(gray[:, -patch:, -patch:], axis=(1, 2))],
                     axis=1)


def _extent(present, size):
    """First index and last index + 1 where `present` (B, size) is 1; (size, 0) where it never is."""
    index = _constant(np.arange(size))
    first = ops.min(present * index + (1.0 - present) * size, axis=1)
    last = ops.max(present * (index + 1.0), axis=1)
    return first, last


def _window_weights(start, extent, out_size, in_size, widest_step):
    """`(B, out_size, in_size)` weights of `resample_matrix(..., outside="zero", kernel="cubic")`.

    `widest_step` bounds the input pixels per output pixel, which sets how
    far the kernel reaches (a static size for the normalizing sum).
    """
    _, support = KERNELS["cubic"]
    step = extent / out_size
    centres = start[:, None] + (_constant(np.arange(out_size))[None, :] + 0.5) * step[:, None]  # (B, out)
    kernel_width = ops.maximum(step, 1.0)[:, None, None]
    positions = _constant(np.arange(in_size) + 0.5)
    weights = _cubic((positions[None, None, :] - centres[:, :, None]) / kernel_width)
    # As keras_cnns.data.resample.kernel_sums: the kernel's full sum, pixels outside the image included.
    reach = int(math.ceil(widest_step * support)) + 1
    nearby = ops.floor(centres)[:, :, None] + _constant(np.arange(-reach, reach + 1))[None, None, :]
    total = ops.sum(_cubic((nearby + 0.5 - centres[:, :, None]) / kernel_width), axis=2, keepdims=True)
    return weights / total


def _cubic(distance, a=-0.5):
    t = ops.abs(distance)
    near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    far = ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a
    return ops.where(t <= 1.0, near, ops.where(t < 2.0, far, 0.0))


def _resample(rows, images, columns):
    """Fixed `(h, H)` and `(w, W)` matrices applied to `(B, H, W, C)` images."""
    return ops.einsum("hH,bHWc,wW->bhwc", _constant(rows), images, _constant(columns))


def _batched_resample(rows, images, columns):
    """Per-image `(B, h, H)` and `(B, w, W)` matrices applied to `(B, H, W, C)` images."""
    return ops.einsum("bhH,bHWc,bwW->bhwc", rows, images, columns)


def _sharpen(images):
    kernel = photos.gaussian_kernel()
    channels = images.shape[-1]
    kernel = np.repeat(kernel[:, :, None, None], channels, axis=2)
    blurred = ops.depthwise_conv(images, _constant(kernel), strides=1, padding="same")
    return ops.clip(images + photos.SHARPEN_AMOUNT * (images - blurred), 0.0, 255.0)

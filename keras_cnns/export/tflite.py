"""SavedModel export and TFLite (LiteRT) conversion.

The only conversion route that works with Keras 3 is used: the Keras model is
exported as a SavedModel with Keras' own `model.export(path,
format="tf_saved_model")` (serving signature with a free batch dimension),
and `tf.lite.TFLiteConverter.from_saved_model` converts that.
(`TFLiteConverter.from_keras_model` breaks on Keras 3 models.)

Quantizations (`QUANTIZATIONS`):

* `"float32"`: no quantization.
* `"float16"`: weights stored as float16 (half the size); on CPUs they are
  widened back to float32 when the model loads, so the arithmetic is float32.
* `"dynamic"`: dynamic-range quantization; weights int8, activations
  quantized on the fly per batch.
* `"int8"`: full-integer quantization; int8 weights (per output channel) and
  activations, int8 input and output tensors, activation ranges calibrated on
  `representative_data` (100 to 500 real training images, prepared exactly
  like the training inputs).

Only TFLite built-in operators are allowed unless `allow_flex_ops=True`: a
model that needs TensorFlow ("flex") kernels fails with
`UnsupportedOpsError` naming the operators, because a plain LiteRT runtime
(on a phone, or the `ai_edge_litert` Python package) cannot run them.
"""

import contextlib
import os
import shutil
import tempfile
import warnings

import numpy as np

from keras_cnns.export.formats import QUANTIZATIONS  # noqa: F401  (part of this module's API)

# Calibration set size for int8, within the 100 to 500 images that give
# stable activation ranges; more only slows the conversion down.
DEFAULT_CALIBRATION_SIZE = 300
MIN_CALIBRATION_SIZE = 100
# Slack around the normalized pixel range before calibration images are
# refused as "not normalized" (augmentation noise is clipped to [0, 255]
# before normalization, so real inputs stay inside).
_RANGE_SLACK = 0.05


class UnsupportedOpsError(ValueError):
    """The model needs operators that TFLite's built-in set does not have.

    Attributes:
        flex_ops: TensorFlow operators that a "flex" (Select TF ops) runtime
            could run, e.g. `["Erf"]`.
        custom_ops: Operators no TFLite runtime has (they would need custom
            kernels).
    """

    def __init__(self, message, flex_ops=(), custom_ops=()):
        super().__init__(message)
        self.flex_ops = list(flex_ops)
        self.custom_ops = list(custom_ops)


def export_saved_model(model, path):
    """Writes `model` as a TensorFlow SavedModel with a `serving_default` signature.

    Uses Keras 3's `model.export(path, format="tf_saved_model")`: the
    signature takes a float32 batch of any size, `(None, H, W, C)`, and is
    loadable with plain `tf.saved_model.load` (no Keras needed). The folder
    is written under a temporary name and renamed when complete.

    Args:
        model: A built `keras.Model`; one that computes in mixed precision
            is exported as its float32 copy (`train.precision.float32_model`).
        path: Folder to create; must not exist.

    Returns:
        `path`.

    Raises:
        FileExistsError: If `path` exists.

    Example:

    ```python
    export_saved_model(model, "exports/r20/saved_model")
    serve = tf.saved_model.load("exports/r20/saved_model").signatures["serving_default"]
    ```
    """
    path = os.fspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; pass a new folder for the SavedModel.")
    parent = os.path.dirname(os.path.abspath(path)) or "."
    os.makedirs(parent, exist_ok=True)
    from keras_cnns.train.precision import float32_model  # Keras: imported when a model is exported.

    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        os.rmdir(temporary)  # model.export creates the folder itself.
        # A mixed-precision network is exported in float32 (TFLite has no bfloat16 kernels).
        float32_model(model).export(temporary, format="tf_saved_model", verbose=False)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return path


def convert_to_tflite(model, quantization="float32", representative_data=None, allow_flex_ops=False, *,
                      calibration_size=DEFAULT_CALIBRATION_SIZE, normalization=None, integer_io=True,
                      per_channel=True):
    """Converts a Keras model (or a SavedModel folder) to a `.tflite` file in memory.

    Args:
        model: A `keras.Model`, or the path of a SavedModel folder written by
            `export_saved_model` (converting several formats from one
            SavedModel saves exporting it again each time).
        quantization: One of `QUANTIZATIONS`: `"float32"`, `"float16"`,
            `"dynamic"` or `"int8"`.
        representative_data: For `"int8"` only (required there): calibration
            images in the model's input scale (normalized exactly as the
            training inputs), as an array `(N, H, W, C)` or a `tf.data.Dataset`
            of image batches or `(images, labels)` batches. The first
            `calibration_size` images are used.
        allow_flex_ops: Allow TensorFlow ("flex") operators where TFLite has
            no built-in one. The file then needs a runtime with the Flex
            delegate.
        calibration_size: Number of calibration images for int8.
        normalization: Optional `{"mean": [...], "std": [...]}` of the
            model's inputs; when given, calibration images outside the
            normalized pixel range are refused (raw `[0, 255]` pixels would
            calibrate useless ranges).
        integer_io: For int8: int8 input and output tensors (default). False
            keeps float32 tensors at the edges, with a QUANTIZE op after the
            input and a DEQUANTIZE op before the output.
        per_channel: For int8 and dynamic: one weight scale per output
            channel (default, the converter's own choice). False uses one
            scale per tensor (less accurate; for comparisons).

    Returns:
        The `.tflite` flatbuffer as `bytes`.

    Raises:
        ValueError: For an unknown `quantization`, missing or wrong-shape
            calibration images, or calibration images that are not
            normalized.
        UnsupportedOpsError: If the model needs non-built-in operators (and
            `allow_flex_ops` is False), naming them.
        RuntimeError: If the converter fails for another reason.

    Example:

    ```python
    content = convert_to_tflite(model, "int8", representative_data=calibration_images)
    print(len(content) / 1e6, "MB")
    ```
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Unknown quantization {quantization!r}; choose one of {list(QUANTIZATIONS)}."
        )
    if not isinstance(model, (str, os.PathLike)):
        check_tflite_backend()
    with _saved_model_folder(model) as saved_model:
        calibration = None
        if quantization == "int8":
            input_shape = saved_model_input_shape(saved_model)
            calibration = calibration_images(representative_data, input_shape, calibration_size,
                                             normalization=normalization)
        elif representative_data is not None:
            warnings.warn(
                f"representative_data is only used for int8; it is ignored for {quantization!r}.",
                stacklevel=2,
            )
        converter = _converter(saved_model, quantization, calibration, allow_flex_ops, integer_io, per_channel)
        return _convert(converter, quantization, allow_flex_ops)


def check_tflite_backend():
    """Raises unless Keras runs on TensorFlow, the only backend whose SavedModels TFLite converts.

    On JAX, `model.export` writes StableHLO (through jax2tf) that the TFLite
    converter cannot read in general (e.g. `vhlo.dynamic_gather_v1` from a
    strided slice with a free batch dimension).

    Raises:
        RuntimeError: Saying how to convert from the TensorFlow backend.
    """
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"TFLite conversion needs the TensorFlow backend; Keras runs on {backend!r}, whose "
            "SavedModels the TFLite converter cannot read in general. Save the model "
            "(model.save('model.keras')) and export it from TensorFlow: KERAS_BACKEND=tensorflow "
            "keras-cnns export model.keras --out DIR (or export formats=('saved_model',) only)."
        )


def calibration_images(data, input_shape, size=DEFAULT_CALIBRATION_SIZE, *, normalization=None):
    """The first `size` images of `data` as float32, checked against the model input.

    Args:
        data: Array `(N, H, W, C)`, or a `tf.data.Dataset` of image batches
            or `(images, labels)` batches.
        input_shape: The model's `(H, W, C)`.
        size: How many images to take.
        normalization: Optional normalization the images must obey.

    Returns:
        float32 array `(min(N, size), H, W, C)`.

    Raises:
        ValueError: If `data` is None or empty, has another image shape, holds
            NaN/inf, or (with `normalization`) is not normalized.
    """
    if data is None:
        raise ValueError(
            "int8 quantization needs calibration images: pass representative_data=, 100 to 500 "
            "training images prepared like the training inputs (normalize(pixels, normalization)), "
            "or export from a run directory, whose training split is used."
        )
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"calibration_size must be a positive int; received {size!r}. Pass for example 300.")
    images = take_images(data, size)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"The int8 calibration images (representative_data) have shape {images.shape}, but the "
            f"model takes (N, {', '.join(map(str, input_shape))}). Pass training images of the "
            "model's input size and channel count, prepared like its training inputs."
        )
    if len(images) == 0:
        raise ValueError("representative_data holds no images; pass 100 to 500 training images.")
    if not np.isfinite(images).all():
        raise ValueError(
            "The int8 calibration images hold NaN or infinite values; they would make every "
            "activation range meaningless. Check the images and their preprocessing."
        )
    if normalization is not None:
        _check_normalized(images, normalization)
    if len(images) < MIN_CALIBRATION_SIZE:
        warnings.warn(
            f"int8 calibration on {len(images)} images; {MIN_CALIBRATION_SIZE} to 500 give more "
            "stable activation ranges.",
            stacklevel=3,
        )
    return images


def take_images(data, count=None):
    """The first `count` images of an array or a `tf.data.Dataset`, as float32 numpy."""
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        batches, taken = [], 0
        for element in data:
            images = element[0] if isinstance(element, (tuple, list)) else element
            images = np.asarray(images, dtype=np.float32)
            batches.append(images)
            taken += len(images)
            if count is not None and taken >= count:
                break
        if not batches:
            return np.zeros((0,), dtype=np.float32)
        return np.concatenate(batches)[:count]
    images = np.asarray(data, dtype=np.float32)
    return images if count is None or images.ndim == 0 else images[:count]


def saved_model_input_shape(path):
    """`(H, W, C)` of the single input of a SavedModel's `serving_default` signature."""
    import tensorflow as tf

    signature = tf.saved_model.load(path).signatures["serving_default"]
    specs = list(signature.structured_input_signature[1].values())
    return tuple(int(dim) for dim in specs[0].shape[1:])


def tflite_operators(content):
    """Sorted operator names used by a `.tflite` flatbuffer (flex ops as `FlexXxx`)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(content, 0)
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    found = set()
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        found.add(custom.decode() if custom else names.get(builtin, str(builtin)))
    return sorted(found)


def round_constants_to_float16(content):
    """A float32 `.tflite` flatbuffer whose float32 constants are rounded to float16 precision.

    The tensors stay float32, so the file runs exactly like the float32 one
    but with the weight values a float16 file stores: the reference a
    float16 conversion is verified against (see `keras_cnns.export.verify`).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            buffer = model.buffers[tensor.buffer]
            if tensor.type != schema.TensorType.FLOAT32 or buffer.data is None or not len(buffer.data):
                continue
            values = np.frombuffer(np.asarray(buffer.data, dtype=np.uint8).tobytes(), dtype=np.float32)
            rounded = values.astype(np.float16).astype(np.float32)
            buffer.data = np.frombuffer(rounded.tobytes(), dtype=np.uint8)
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def flex_operators(content):
    """The TensorFlow ("flex") operators a `.tflite` flatbuffer needs; empty for built-in-only files."""
    return [name for name in tflite_operators(content) if name.startswith("Flex")]


@contextlib.contextmanager
def _saved_model_folder(model):
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"{path} is not a SavedModel folder (no saved_model.pb). Pass a keras.Model or a "
                "folder written by export_saved_model."
            )
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="keras_cnns_export_") as folder:
        yield export_saved_model(model, os.path.join(folder, "saved_model"))


def _converter(saved_model, quantization, calibration, allow_flex_ops, integer_io=True, per_channel=True):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if quantization == "int8" else tf.lite.OpsSet.TFLITE_BUILTINS
    converter.target_spec.supported_ops = [builtins] + ([tf.lite.OpsSet.SELECT_TF_OPS] if allow_flex_ops else [])
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        def representative_dataset():
            for index in range(len(calibration)):
                yield [calibration[index : index + 1]]

        converter.representative_dataset = representative_dataset
        if integer_io:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    if not per_channel:
        # The converter has no public switch for this.
        converter._experimental_disable_per_channel = True
    return converter


def _convert(converter, quantization, allow_flex_ops):
    from tensorflow.compiler.mlir.lite.metrics import converter_error_data_pb2
    from tensorflow.lite.python.convert_phase import ConverterError

    codes = converter_error_data_pb2.ConverterErrorData
    try:
        return converter.convert()
    except ConverterError as error:
        flex = _operator_names(error, codes.ERROR_NEEDS_FLEX_OPS)
        custom = _operator_names(error, codes.ERROR_NEEDS_CUSTOM_OPS)
        if custom:
            raise UnsupportedOpsError(
                f"The model uses TensorFlow operator(s) {custom} that no TFLite runtime has (neither "
                "built-in nor flex), so it cannot be converted. Replace the layers that use them.",
                flex_ops=flex, custom_ops=custom,
            ) from None
        if flex and not allow_flex_ops:
            raise UnsupportedOpsError(
                f"The model needs TensorFlow (flex) operator(s) {flex}, which TFLite has no built-in "
                "kernel for; a plain LiteRT runtime cannot run the file. Replace the layers that use "
                "them, or pass allow_flex_ops=True (`--allow-flex-ops`) to ship a file that needs "
                "the Flex delegate.",
                flex_ops=flex,
            ) from None
        first = error.errors[0].error_message if getattr(error, "errors", None) else str(error)
        raise RuntimeError(
            f"TFLite conversion to {quantization} failed: {first.strip().splitlines()[0]}"
        ) from error


def _operator_names(error, code):
    names = []
    for data in getattr(error, "errors", ()) or ():
        if data.error_code == code and data.operator.name:
            name = data.operator.name.removeprefix("tf.")
            if name not in names:
                names.append(name)
    return names


def _check_normalized(images, normalization):
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)
    low = float(np.min((0.0 - mean) / std))
    high = float(np.max((1.0 - mean) / std))
    slack = _RANGE_SLACK * (high - low)
    found_low, found_high = float(images.min()), float(images.max())
    if found_low < low - slack or found_high > high + slack:
        raise ValueError(
            f"The int8 calibration images hold values in [{found_low:.3g}, {found_high:.3g}], but "
            f"normalized inputs lie in [{low:.3g}, {high:.3g}]: they look like raw pixels, not "
            "model inputs. Pass images prepared like the training inputs: "
            "normalize(pixels, normalization)."
        )

"""The export formats, one entry each: how a format is written, verified and timed.

`export_model` (`keras_cnns.export.exporter`) walks a list of these entries;
a new format is a new entry of `FORMATS`, not a new branch there. Each entry:

* `check(context)`: refuses, before any slow work, what it cannot export;
* `write(context)`: writes its file (or folder) into the staging folder and
  returns a `FormatResult` with its size and format facts;
* `verify(context, result)`: runs it on the held-out images and judges it
  against the Keras model (`keras_cnns.export.verify` holds the rules);
* `latency(context, result)`: milliseconds per image at batch 1.

This module imports TensorFlow only when a format is written (the command
line lists the formats without it). `ExportContext` carries what the entries share: the model and its data, the
staging folder, the SavedModel every TensorFlow format is converted from
(written once, on first use), the Keras model's outputs on the test images,
the fitted temperature and the options of the call.
"""

import dataclasses
import importlib.util
import os
import warnings

import numpy as np

from keras_cnns.export import verify as checks
from keras_cnns.export.card import folder_size
from keras_cnns.export.latency import measure_latency, measure_tflite_latency
from keras_cnns.inference.runner import TFLiteRunner


def _tflite():
    from keras_cnns.export import tflite

    return tflite


# The quantizations of a whole model's `.tflite` file (`keras_cnns.export.tflite.convert_to_tflite`).
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
# Timed calls per format for the report's latency column.
REPORT_LATENCY_RUNS = 50
SAVED_MODEL = "saved_model"
# The staging subfolder of the mobile formats' shared network SavedModel; removed before the export lands.
MOBILE_PARTS = "_mobile_parts"


@dataclasses.dataclass
class ExportContext:
    """What the format entries of one export share.

    Attributes:
        source: The `ExportSource` (model, data, class names, look).
        staging: The folder the files are written into.
        graph: The Keras model the TensorFlow formats are converted from
            (the source model, or it with the normalization folded in).
        to_graph_input: Maps model inputs to `graph`'s inputs.
        options: The options of the `export_model` call, as a dict.
        calibration: int8 calibration images (model input scale), or None.
        keras_outputs: The Keras model's outputs on the test images.
        temperature: The fitted `Calibration`, or None.
        metadata_facts: Name, version, author and licence for TFLite metadata.
        contents: `.tflite` contents written so far, by format.
    """

    source: object
    staging: str
    graph: object
    to_graph_input: object
    options: dict
    calibration: object = None
    keras_outputs: object = None
    temperature: object = None
    metadata_facts: dict = None
    contents: dict = dataclasses.field(default_factory=dict)
    _saved_model: str = None
    _mobile_parts: object = None

    @property
    def saved_model(self):
        """The SavedModel of `graph` in the staging folder, written on first use."""
        if self._saved_model is None:
            self._saved_model = _tflite().export_saved_model(self.graph, os.path.join(self.staging, SAVED_MODEL))
        return self._saved_model

    @property
    def mobile_parts(self):
        """The `MobileParts` every mobile format is chained from (its folder in the staging folder)."""
        if self._mobile_parts is None:
            from keras_cnns.export.mobile import MobileParts

            folder = os.path.join(self.staging, MOBILE_PARTS)
            os.makedirs(folder)
            self._mobile_parts = MobileParts(
                self.source.model, folder, image_shape=self.image_shape, look=self.source.look,
                normalization=self.source.normalization, temperature=self.temperature_value,
                allow_flex_ops=self.options["allow_flex_ops"],
            )
        return self._mobile_parts

    @property
    def image_shape(self):
        return tuple(int(dim) for dim in self.source.model.input_shape[1:])

    @property
    def temperature_value(self):
        return 1.0 if self.temperature is None else self.temperature.temperature


class ExportFormat:
    """One export format. Subclasses set `name`, `file` and the four steps."""

    name = None
    file = None
    needs_calibration = False
    needs_tensorflow_backend = True

    def check(self, context):
        """Raises, before any slow work, when this format cannot be exported."""

    def write(self, context):
        raise NotImplementedError

    def verify(self, context, result):
        raise NotImplementedError

    def latency(self, context, result):
        return None


class SavedModelFormat(ExportFormat):
    """A TensorFlow SavedModel folder (`serving_default`), loadable without Keras."""

    name = SAVED_MODEL
    file = SAVED_MODEL
    needs_tensorflow_backend = False

    def write(self, context):
        return checks.FormatResult(self.name, self.file, folder_size(context.saved_model),
                                   details={"signature": "serving_default (also the `serve` endpoint)",
                                            "input": {"dtype": "float32", "shape": [None, *context.image_shape]},
                                            "loads_with": "tf.saved_model.load (no Keras needed)"})

    def verify(self, context, result):
        result.reference = "Keras model"
        outputs = checks.predict_saved_model(context.saved_model, _graph_test_images(context))
        checks.judge_float(result, outputs, context.keras_outputs, context.source.test_labels, context.keras_outputs)

    def latency(self, context, result):
        import tensorflow as tf

        serve = tf.saved_model.load(context.saved_model).signatures["serving_default"]
        image = tf.constant(context.to_graph_input(np.zeros((1, *context.image_shape), np.float32)))
        return measure_latency(lambda: serve(image), runs=REPORT_LATENCY_RUNS)


class TFLiteFormat(ExportFormat):
    """A `.tflite` file of the whole model: float32, float16, dynamic-range or full-integer int8."""

    _WEIGHTS = {"float32": "float32", "float16": "float16 (widened to float32 at load)",
                "dynamic": "int8 per channel; activations quantized at run time",
                "int8": "int8 per output channel; activations int8"}

    def __init__(self, quantization):
        self.name = quantization
        self.file = f"model_{quantization}.tflite"
        self.needs_calibration = quantization == "int8"

    def check(self, context):
        _tflite().check_tflite_backend()

    def write(self, context):
        representative = None
        if self.needs_calibration:
            representative = context.to_graph_input(context.calibration)
        content = _tflite().convert_to_tflite(context.saved_model, self.name, allow_flex_ops=context.options["allow_flex_ops"],
                                    representative_data=representative)
        _write_file(context, self.file, content)
        context.contents[self.name] = content
        details = _tflite_details(content, context.options["num_threads"])
        if "input" in details:
            details["weights"] = self._WEIGHTS[self.name]
        if self.needs_calibration:
            details["calibration_images"] = len(context.calibration)
        return checks.FormatResult(self.name, self.file, len(content), details=details)

    def verify(self, context, result):
        content = context.contents[self.name]
        flex = _tflite().flex_operators(content)
        if flex:
            result.note = (f"not run: the file needs the Flex delegate for {flex}, which the LiteRT Python "
                           "package does not include")
            warnings.warn(f"The {self.name} file was not verified: {result.note}.", stacklevel=4)
            return
        images, labels = _graph_test_images(context), context.source.test_labels
        threads = context.options["num_threads"]
        outputs = TFLiteRunner(content, num_threads=threads).run(images)
        if self.name == "float32":
            result.reference = "Keras model"
            checks.judge_float(result, outputs, context.keras_outputs, labels, context.keras_outputs)
        elif self.name == "float16":
            self._verify_float16(context, result, outputs, images, labels)
        else:
            result.reference = "Keras model"
            checks.judge_quantized(result, outputs, labels, context.keras_outputs,
                                   context.options["min_quantized_agreement"],
                                   context.options["max_quantized_accuracy_drop"])

    def _verify_float16(self, context, result, outputs, images, labels):
        threads = context.options["num_threads"]
        result.reference = "float32 TFLite file with its constants rounded to float16"
        float32 = context.contents.get("float32")
        if float32 is None:
            float32 = _tflite().convert_to_tflite(context.saved_model, "float32",
                                        allow_flex_ops=context.options["allow_flex_ops"])
        reference = TFLiteRunner(_tflite().round_constants_to_float16(float32), num_threads=threads).run(images)
        checks.judge_float(result, outputs, reference, labels, context.keras_outputs)
        if "float32" not in context.contents:
            # No verification of an exported float32 file vouches for the reference: check here that,
            # unrounded, it gives the Keras model's answers (else a converter that computes something
            # else in both formats would pass).
            result.reference = ("float32 TFLite file (not exported; checked against the Keras model here) "
                                "with its constants rounded to float16")
            unrounded = TFLiteRunner(float32, num_threads=threads).run(images)
            passed, difference, ratio = checks.compare_float(unrounded, context.keras_outputs)
            if not passed:
                result.passed = False
                result.note = (f"its float32 reference (the same SavedModel converted without quantization) "
                               f"differs from the Keras model by up to {difference:.3g} ({ratio:.3g}x the allowed "
                               "1e-4 + 1e-4|y|), so neither file computes the Keras model")

    def latency(self, context, result):
        content = context.contents[self.name]
        if _tflite().flex_operators(content):
            return None
        return measure_tflite_latency(content, num_threads=context.options["num_threads"], runs=REPORT_LATENCY_RUNS)


class MobileFormat(ExportFormat):
    """A `.tflite` file that MediaPipe's `ImageClassifier` and Android Studio run as it is.

    uint8 RGB pixels in (`1 x H x W x 3`), calibrated float32 probabilities
    out; the photo preparation, normalization and temperature inside the
    graph (`keras_cnns.export.mobile`); TFLite Model Metadata with the label
    file packed in (`keras_cnns.export.tflite_metadata`). Verified through
    MediaPipe's `ImageClassifier` on the test images as a user holds them,
    with the class names it reads back from the file (through LiteRT, with
    MediaPipe's resizing, when MediaPipe is not installed).
    """

    def __init__(self, quantization):
        self.quantization = quantization
        self.name = f"mobile_{quantization}"
        self.file = f"model_mobile_{quantization}.tflite"
        self.needs_calibration = quantization == "int8"

    def check(self, context):
        from keras_cnns.export.mobile import check_mobile_ready

        _tflite().check_tflite_backend()
        check_mobile_ready(context.source.model)

    def write(self, context):
        from keras_cnns.export.mobile import mobile_input_size
        from keras_cnns.export.tflite_metadata import write_metadata

        source = context.source
        content = context.mobile_parts.convert(self.quantization,
                                               context.calibration if self.needs_calibration else None)
        metadata = _mobile_metadata(context, self.quantization, mobile_input_size(context.image_shape, source.look))
        content = write_metadata(content, metadata)
        _write_file(context, self.file, content)
        context.contents[self.name] = content
        details = _tflite_details(content, context.options["num_threads"])
        details.update(
            network=("int8 weights and activations; float32 photo preparation before it" if self.quantization == "int8"
                     else "float32"),
            photo_preparation=_preparation_summary(source.look),
            temperature_folded=context.temperature_value,
            metadata={"name": metadata.name, "version": metadata.version, "author": metadata.author,
                      "license": metadata.license, "label_file": metadata.label_file,
                      "normalization": {"mean": metadata.mean, "std": metadata.std},
                      "min_parser_version": metadata.min_parser_version},
        )
        if self.needs_calibration:
            details["calibration_images"] = len(context.calibration)
        return checks.FormatResult(self.name, self.file, len(content), details=details)

    def verify(self, context, result):
        from keras_cnns.export import mobile_runtime

        source = context.source
        content = context.contents[self.name]
        run = mobile_runtime.run_mediapipe if mobile_runtime.mediapipe_available() else mobile_runtime.run_litert
        outputs, labels = run(content, source.test_pixels, num_threads=context.options["num_threads"])
        class_names = list(source.class_names or [])
        if labels != class_names:
            result.passed = False
            result.note = f"the class names read back from the file, {labels[:5]}..., are not the model's {class_names[:5]}..."
            return
        result.details["runtime"] = mobile_runtime.runtime_name(run)
        result.reference = "Keras model (on the same images, prepared as in training)"
        if self.quantization == "float32":
            checks.judge_mobile_float(result, outputs, source.test_labels, context.keras_outputs)
        else:
            # max_quantized_accuracy_drop=None (only report quantized files) holds for this one too.
            report_only = context.options["max_quantized_accuracy_drop"] is None
            checks.judge_mobile_quantized(result, outputs, source.test_labels, context.keras_outputs,
                                          max_accuracy_drop=None if report_only else checks.MOBILE_MAX_ACCURACY_DROP)

    def latency(self, context, result):
        from keras_cnns.export import mobile_runtime

        return mobile_runtime.latency(context.contents[self.name], context.options["num_threads"],
                                      runs=REPORT_LATENCY_RUNS)


class OnnxFormat(ExportFormat):
    """An ONNX file, through Keras' own `model.export(format="onnx")`, verified with ONNX Runtime."""

    name = "onnx"
    file = "model.onnx"

    def check(self, context):
        missing = [package for package in ("tf2onnx", "onnx", "onnxruntime")
                   if importlib.util.find_spec(package) is None]
        if missing:
            raise ValueError(
                f"The onnx format needs {', '.join(missing)}, which are not installed. Install them with "
                "pip install 'keras-cnns[onnx]', or leave onnx out of the formats."
            )
        _tflite().check_tflite_backend()

    def write(self, context):
        from keras_cnns.export import onnx

        path = os.path.join(context.staging, self.file)
        onnx.export_onnx(context.graph, path)
        return checks.FormatResult(self.name, self.file, os.path.getsize(path), details=onnx.describe(path))

    def verify(self, context, result):
        from keras_cnns.export import onnx

        result.reference = "Keras model"
        outputs = onnx.run_onnx(os.path.join(context.staging, self.file), _graph_test_images(context))
        checks.judge_float(result, outputs, context.keras_outputs, context.source.test_labels, context.keras_outputs)

    def latency(self, context, result):
        from keras_cnns.export import onnx

        return onnx.latency(os.path.join(context.staging, self.file), context.image_shape, runs=REPORT_LATENCY_RUNS)


FORMATS = {entry.name: entry for entry in (
    SavedModelFormat(), *(TFLiteFormat(quantization) for quantization in QUANTIZATIONS),
    MobileFormat("float32"), MobileFormat("int8"), OnnxFormat(),
)}
DEFAULT_FORMATS = ("saved_model", "float32", "int8", "mobile_float32", "mobile_int8")


def check_formats(formats):
    """Validates `formats` (a name, or a sequence of names); returns their entries, in order.

    Raises:
        ValueError: For an empty list, an unknown name or a repeated one.
    """
    if isinstance(formats, str):
        formats = [formats]
    formats = list(formats)
    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats or len(set(formats)) != len(formats):
        raise ValueError(
            f"formats must be distinct names from {list(FORMATS)}; received {formats!r}. Pass for "
            f"example {DEFAULT_FORMATS!r}."
        )
    return [FORMATS[name] for name in formats]


def file_name(format):
    """The file (or folder) name of a format inside an export folder."""
    return FORMATS[format].file


def _write_file(context, name, content):
    with open(os.path.join(context.staging, name), "wb") as file:
        file.write(content)


def _graph_test_images(context):
    return context.to_graph_input(context.source.test_images)


def _tflite_details(content, num_threads):
    details = {"operators": _tflite().tflite_operators(content), "flex_ops": _tflite().flex_operators(content)}
    if details["flex_ops"]:
        return details
    runner = TFLiteRunner(content, num_threads=num_threads)
    # 0 means LiteRT's XNNPACK delegate took nothing: the file runs on the slower built-in kernels.
    details["xnnpack_partitions"] = runner.operators().count("DELEGATE")
    details["input"] = _tensor_facts(runner.input_dtype, runner.input_quantization, runner.input_shape)
    details["output"] = _tensor_facts(runner.output_dtype, runner.output_quantization, runner.output_shape)
    return details


def _tensor_facts(dtype, quantization, shape):
    facts = {"dtype": dtype.name, "shape": [None, *shape]}
    if quantization[0]:
        facts["quantization"] = {"scale": quantization[0], "zero_point": quantization[1],
                                 "real_value": "(q - zero_point) * scale"}
    return facts


def _preparation_summary(look):
    if look is None:
        return "resize to the network's size, RGB to grayscale where it takes one channel, normalization"
    return ("as keras_cnns.inference.photos.prepare_photo: a background of the other polarity negated, its level "
            "matched, the object cut out, centred and sharpened (or a dataset-like image only resized), then the "
            "dataset's normalization")


def _mobile_metadata(context, quantization, input_size):
    from keras_cnns.export.tflite_metadata import ImageClassifierMetadata

    source, facts = context.source, context.metadata_facts
    height, width = input_size
    classes = len(source.class_names or [])
    architecture = (source.architecture or {}).get("model", source.model.name)
    dataset = (source.dataset or {}).get("name", "its training images")
    preparation = ("a light background is negated, the object cut out and centred" if source.look is not None
                   else "the image is resized")
    return ImageClassifierMetadata(
        name=facts["name"],
        description=(f"{architecture} trained on {dataset} ({classes} classes), {quantization}, exported by "
                     f"keras_cnns. Give it an RGB image as it is (uint8, any size: MediaPipe resizes it to "
                     f"{height}x{width}; a square image keeps the object's proportions). The graph does the rest: "
                     f"{preparation}, grayscale and normalization as in training. The output is "
                     f"{classes} class probabilities, "
                     + (f"calibrated (temperature {context.temperature_value:.3g})." if context.temperature is not None
                        else "not calibrated (no temperature was fitted).")),
        version=facts["version"],
        author=facts["author"],
        license=facts["license"],
        input_name="image",
        input_description=f"RGB image, {height}x{width}, uint8 pixels as they are (0 to 255).",
        color_space="RGB",
        image_size=(height, width),
        mean=[0.0],
        std=[1.0],
        input_range=(0.0, 255.0),
        output_name="probabilities",
        output_description="Calibrated probability of each class, in the order of labels.txt.",
        labels=[str(name) for name in source.class_names],
    )

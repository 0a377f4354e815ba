"""Verification: does each exported file give the Keras model's answers?

Every format is run on held-out real images and compared with the Keras
model it came from:

* Float formats must match elementwise: `|y - y_ref| <= 1e-4 + 1e-4 * |y_ref|`
  for every output value (`FLOAT_TOLERANCE` absolute and relative, the rule
  of `numpy.testing.assert_allclose`), on the model's outputs (softmax
  probabilities for a classifier).

  - `saved_model` and `float32` are compared with the Keras model itself.
  - `float16` stores float16 weights, a relative rounding of up to 2**-11 per
    weight, which a 1e-4 tolerance on the original model cannot absorb. It
    is compared with the float32 TFLite file whose constants were rounded to
    float16 (`tflite.round_constants_to_float16`): the converter folds batch
    norm into the convolutions before it rounds, so this, and not the Keras
    model with rounded weights (whose batch-norm parameters round
    separately), is what a correct float16 file equals. With the float32
    file verified against Keras, the chain says: the float16 file is the
    Keras model with its (folded) weights at float16 precision, nothing
    else. Its distance to the Keras model itself is reported too
    (`max_abs_diff_to_keras`), with its accuracy and top-1 agreement.

* The mobile files take pixels as a user holds them and prepare them in their
  graph, so they are judged on their answers: `mobile_float32` must give the
  Keras model's top-1 class on at least `MOBILE_MIN_AGREEMENT` of the test
  images, `mobile_int8` lose at most `MOBILE_MAX_ACCURACY_DROP` of test
  accuracy (0.3 points).

* Quantized formats (`dynamic`, `int8`) cannot match elementwise; they are
  judged by top-1 agreement with the Keras model and by test accuracy. They
  fail when the agreement is below `min_quantized_agreement`, or their test
  accuracy is more than `max_quantized_accuracy_drop` below the Keras
  model's (an agreement of 0.9 alone allows a 10-point loss).

A float format that fails is an `ExportVerificationError`, not a warning.
"""

import dataclasses

import numpy as np

FLOAT_TOLERANCE = 1e-4
FLOAT_FORMATS = ("saved_model", "float32", "float16", "onnx")
# Below this top-1 agreement with Keras a quantized file is not a faithful copy.
DEFAULT_MIN_QUANTIZED_AGREEMENT = 0.9
# A quantized file whose test accuracy is more than this below the Keras model's (0.02: 2 points) is
# broken, not merely rounded: a failure of the export, not a quality goal (the benchmark's is 0.3 points).
DEFAULT_MAX_QUANTIZED_ACCURACY_DROP = 0.02
MOBILE_MIN_AGREEMENT = 0.995
MOBILE_MAX_ACCURACY_DROP = 0.003
FLOAT_RULE = "every output within 1e-4 absolute + 1e-4 relative of the reference (numpy allclose rule)"
_PREDICT_BATCH = 256


class ExportVerificationError(RuntimeError):
    """An exported file does not give the Keras model's answers.

    Attributes:
        results: The `FormatResult`s of the export, failed ones included.
    """

    def __init__(self, message, results=()):
        super().__init__(message)
        self.results = list(results)


@dataclasses.dataclass
class FormatResult:
    """How one exported format did.

    Attributes:
        format: `"saved_model"`, `"float32"`, `"float16"`, `"dynamic"` or `"int8"`.
        path: File (or folder) name inside the export folder.
        size_bytes: Size on disk (a SavedModel: all its files).
        reference: What it was compared with.
        rule: The pass criterion, in words.
        passed: True or False; None when not verified.
        max_abs_diff: Largest absolute output difference to the reference.
        tolerance_ratio: Largest `|y - y_ref| / (atol + rtol * |y_ref|)`;
            float formats pass when it is at most 1.
        max_abs_diff_to_keras: For float16: the largest difference to the
            unrounded Keras model.
        agreement: Share of test images whose top-1 class equals Keras'.
        accuracy: Test accuracy (None without labels).
        accuracy_drop: For quantized formats: the Keras model's test
            accuracy minus this one's (None without labels).
        latency_ms: Median milliseconds per image at batch 1.
        num_images: Images the verification ran on.
        details: Format facts: input/output dtypes and quantization, operators.
        note: Why it was not verified, or other remarks.
    """

    format: str
    path: str
    size_bytes: int = 0
    reference: str = None
    rule: str = None
    passed: object = None
    max_abs_diff: float = None
    tolerance_ratio: float = None
    max_abs_diff_to_keras: float = None
    agreement: float = None
    accuracy: float = None
    accuracy_drop: float = None
    latency_ms: float = None
    num_images: int = 0
    details: dict = dataclasses.field(default_factory=dict)
    note: str = None

    def to_dict(self):
        return dataclasses.asdict(self)


def predict_keras(model, images, batch_size=_PREDICT_BATCH):
    """Outputs of a Keras model on float inputs, as float32 numpy."""
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    return np.asarray(outputs, dtype=np.float32)


def predict_saved_model(path, images, batch_size=_PREDICT_BATCH):
    """Outputs of a SavedModel's `serving_default` signature, loaded with plain `tf.saved_model.load`."""
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    chunks = []
    for start in range(0, len(images), batch_size):
        outputs = serve(tf.constant(images[start : start + batch_size]))
        chunks.append(np.asarray(next(iter(outputs.values()))))
    return np.concatenate(chunks).astype(np.float32)


def compare_float(outputs, reference, tolerance=FLOAT_TOLERANCE):
    """Elementwise comparison with the allclose rule.

    Returns:
        `(passed, max_abs_diff, tolerance_ratio)`.
    """
    difference = np.abs(outputs.astype(np.float64) - reference.astype(np.float64))
    allowed = tolerance + tolerance * np.abs(reference.astype(np.float64))
    ratio = float(np.max(difference / allowed)) if difference.size else 0.0
    finite = bool(np.isfinite(outputs).all())
    return finite and ratio <= 1.0, float(np.max(difference)) if difference.size else 0.0, ratio


def top1_agreement(outputs, reference):
    """Share of rows whose argmax is the same."""
    return float(np.mean(np.argmax(outputs, axis=-1) == np.argmax(reference, axis=-1)))


def accuracy(outputs, labels):
    """Top-1 accuracy, or None without labels."""
    if labels is None:
        return None
    return float(np.mean(np.argmax(outputs, axis=-1) == np.asarray(labels).reshape(-1)))


def judge_float(result, outputs, reference, labels, keras_outputs, tolerance=FLOAT_TOLERANCE):
    """Fills a float format's `FormatResult` from its outputs and the reference outputs."""
    result.passed, result.max_abs_diff, result.tolerance_ratio = compare_float(outputs, reference, tolerance)
    result.rule = FLOAT_RULE.replace("1e-4", f"{tolerance:g}")
    result.agreement = top1_agreement(outputs, keras_outputs)
    result.accuracy = accuracy(outputs, labels)
    result.num_images = len(outputs)
    if reference is not keras_outputs:
        result.max_abs_diff_to_keras = float(np.max(np.abs(outputs - keras_outputs)))
    return result


def quantized_rule(min_agreement=DEFAULT_MIN_QUANTIZED_AGREEMENT,
                   max_accuracy_drop=DEFAULT_MAX_QUANTIZED_ACCURACY_DROP):
    """The pass criterion of quantized formats, in words."""
    parts = []
    if min_agreement is not None:
        parts.append(f"top-1 agreement with the Keras model >= {min_agreement:g}")
    if max_accuracy_drop is not None:
        parts.append(f"test accuracy at most {max_accuracy_drop * 100:g} points below the Keras model's")
    return " and ".join(parts) if parts else "none: agreement and test accuracy are reported only"


def judge_quantized(result, outputs, labels, keras_outputs, min_agreement=DEFAULT_MIN_QUANTIZED_AGREEMENT,
                    max_accuracy_drop=DEFAULT_MAX_QUANTIZED_ACCURACY_DROP):
    """Fills a quantized format's `FormatResult` (agreement, accuracy and its drop, pass/fail).

    Args:
        result: The `FormatResult` to fill.
        outputs: The quantized file's (dequantized) outputs.
        labels: Test labels, or None (then the accuracy is not judged).
        keras_outputs: The Keras model's outputs on the same images.
        min_agreement: Least top-1 agreement with Keras; None: not judged.
        max_accuracy_drop: Most test accuracy (as a fraction) below the
            Keras model's; None: not judged.
    """
    result.agreement = top1_agreement(outputs, keras_outputs)
    result.accuracy = accuracy(outputs, labels)
    result.max_abs_diff = float(np.max(np.abs(outputs - keras_outputs)))
    result.num_images = len(outputs)
    result.rule = quantized_rule(min_agreement, max_accuracy_drop)
    agrees = min_agreement is None or result.agreement >= min_agreement
    accurate = True
    if result.accuracy is not None:
        result.accuracy_drop = accuracy(keras_outputs, labels) - result.accuracy
        # The small slack absorbs float rounding of equal accuracies.
        accurate = max_accuracy_drop is None or result.accuracy_drop <= max_accuracy_drop + 1e-9
    result.passed = agrees and accurate
    return result


def judge_mobile_float(result, outputs, labels, keras_outputs, min_agreement=MOBILE_MIN_AGREEMENT):
    """Fills a float mobile file's `FormatResult`: top-1 agreement with Keras of at least `min_agreement`."""
    result.agreement = top1_agreement(outputs, keras_outputs)
    result.accuracy = accuracy(outputs, labels)
    result.num_images = len(outputs)
    result.rule = f"top-1 agreement with the Keras model >= {min_agreement:g}"
    result.passed = result.agreement >= min_agreement
    return result


def judge_mobile_quantized(result, outputs, labels, keras_outputs, max_accuracy_drop=MOBILE_MAX_ACCURACY_DROP):
    """Fills a quantized mobile file's `FormatResult`: at most `max_accuracy_drop` of test accuracy lost.

    `max_accuracy_drop=None` only reports the accuracy (an untrained model).
    On fewer than `1 / max_accuracy_drop` images one image is more than that:
    then one image's worth may be lost (on 10,000 test images the bound is the
    0.3 points themselves).
    """
    result.agreement = top1_agreement(outputs, keras_outputs)
    result.accuracy = accuracy(outputs, labels)
    result.num_images = len(outputs)
    if max_accuracy_drop is None:
        result.rule = "reported only (max_quantized_accuracy_drop=None)"
        result.accuracy_drop = None if result.accuracy is None else accuracy(keras_outputs, labels) - result.accuracy
        result.passed = True
        return result
    allowed = max(max_accuracy_drop, 1.0 / len(outputs))
    result.rule = f"test accuracy at most {allowed * 100:.3g} points below the Keras model's"
    if allowed > max_accuracy_drop:
        result.rule += f" (one image of {len(outputs)}; {max_accuracy_drop * 100:g} points on 1/{max_accuracy_drop:g} or more)"
    if result.accuracy is None:
        result.rule += " (no labels: top-1 agreement >= 0.99 instead)"
        result.passed = result.agreement >= 0.99
        return result
    result.accuracy_drop = accuracy(keras_outputs, labels) - result.accuracy
    result.passed = result.accuracy_drop <= allowed + 1e-9
    return result

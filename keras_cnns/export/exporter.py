"""`export_model`: a trained model to files that are proven to give its answers.

Steps, each below or in a sibling module:

1. resolve the model and its data (`source`): a `keras.Model`, a `.keras`
   file or a run directory (class names, normalization, calibration,
   validation and test images, the dataset's look come from the run);
2. refuse what a format cannot export (`formats`: each entry's `check`);
3. compute the Keras model's test outputs and fit the temperature on
   held-out images (`keras_cnns.inference.calibration`);
4. in a hidden staging folder (`staging`): write each format (`formats`),
   then run every file on the held-out images and judge it against the
   Keras model (`verify`); a file that fails is an error;
5. time each format at batch 1 (`latency`);
6. write `export_report.json` and `model_card.json` (SHA-256 of every file),
   then move the folder into place in one rename.
"""

import dataclasses
import datetime
import os
import shutil

import keras
import numpy as np

import keras_cnns
from keras_cnns.data.preprocessing import denormalize
from keras_cnns.export import verify as checks
from keras_cnns.export.card import build_model_card, file_digests, write_model_card
from keras_cnns.export.formats import (
    DEFAULT_FORMATS,
    FORMATS,
    SAVED_MODEL,
    ExportContext,
    check_formats,
    file_name,
)
from keras_cnns.export import latency
from keras_cnns.export.source import output_activation, resolve_source
from keras_cnns.export.staging import check_replaceable, check_writable, staged_export_folder
from keras_cnns.locking import sibling_lock
from keras_cnns.export.tflite import DEFAULT_CALIBRATION_SIZE, calibration_images
from keras_cnns.inference.calibration import fit_calibration
from keras_cnns.inference.model_card import EXPORT_REPORT_FILE
from keras_cnns.train import atomic
from keras_cnns.train.trainer import check_tta_argument
from keras_cnns.train.tta import tta_views_of, with_test_time_augmentation
from keras_cnns.console import say

# Timed calls of the Keras model for the report's latency column.
REPORT_LATENCY_RUNS = 50
# A temperature is fitted only on softmax outputs (logits are not probabilities to calibrate).
_CALIBRATED_ACTIVATIONS = ("softmax",)
__all__ = ["DEFAULT_FORMATS", "FORMATS", "ExportReport", "check_formats", "export_model", "file_name",
           "fold_normalization_into"]


@dataclasses.dataclass
class ExportReport:
    """What `export_model` wrote and how each format did.

    Attributes:
        out_dir: The export folder.
        results: One `FormatResult` per format, in the order exported.
        keras: The Keras model's own figures: accuracy, latency, images.
        verification: The rules and data the formats were checked with.
        card: The model card written beside the files.
    """

    out_dir: str
    results: list
    keras: dict
    verification: dict
    card: dict = None

    def __getitem__(self, name):
        for result in self.results:
            if result.format == name:
                return result
        raise KeyError(f"No format {name!r} in this export; it has {self.formats}.")

    @property
    def formats(self):
        """Names of the exported formats."""
        return [result.format for result in self.results]

    @property
    def passed(self):
        """True when no format failed its verification."""
        return all(result.passed is not False for result in self.results)

    def path(self, name):
        """Absolute path of a format's file (or SavedModel folder)."""
        return os.path.join(self.out_dir, self[name].path)

    def to_dict(self):
        """The content of `export_report.json`."""
        return {
            "out_dir": self.out_dir,
            "keras": self.keras,
            "verification": self.verification,
            "formats": [result.to_dict() for result in self.results],
        }

    def table(self):
        """The report as a fixed-width text table, one row per format (Keras first)."""
        header = ("format", "file", "size", "accuracy", "agreement", "max |diff|", "verified", "ms/image")
        rows = [("keras", "-", "-", _number(self.keras.get("accuracy")), "-", "-", "reference",
                 _number(self.keras.get("latency_ms"), 3))]
        for result in self.results:
            rows.append((
                result.format, result.path, _size(result.size_bytes), _number(result.accuracy),
                _number(result.agreement), _number(result.max_abs_diff, 2, scientific=True),
                {True: "yes", False: "FAILED", None: "not run"}[result.passed],
                _number(result.latency_ms, 3),
            ))
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
                 for row in [header, *rows]]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def export_model(model, out_dir, *, formats=DEFAULT_FORMATS, representative_data=None, labels=None,
                 normalization=None, test_data=None, allow_flex_ops=False, verify=True,
                 calibration_size=DEFAULT_CALIBRATION_SIZE, fold_normalization=False,
                 min_quantized_agreement=checks.DEFAULT_MIN_QUANTIZED_AGREEMENT,
                 max_quantized_accuracy_drop=checks.DEFAULT_MAX_QUANTIZED_ACCURACY_DROP, measure_latency=True,
                 num_threads=None, look="auto", tta="run", name=None, author="keras_cnns", license="Apache-2.0",
                 command=None, verbose=0):
    """Exports a Keras classifier to SavedModel, TFLite, mobile and ONNX files, verifies each, writes a model card.

    Args:
        model: A `keras.Model`, a run directory written by `keras_cnns.train`,
            or a `.keras` file (if its folder is a run directory, the run's
            data and metadata are used).
        out_dir: Export folder. Must be new, empty, or an earlier export
            (which is replaced as a whole once the new one is verified).
        formats: Any of `FORMATS`: `"saved_model"`, `"float32"`,
            `"float16"`, `"dynamic"`, `"int8"` (`.tflite` files of the model
            as it is), `"mobile_float32"`, `"mobile_int8"` (`.tflite` files
            that MediaPipe's `ImageClassifier` runs as they are: RGB pixels
            in, calibrated probabilities out, metadata and labels inside;
            `keras_cnns.export.mobile`), `"onnx"` (needs the `onnx` extra).
        representative_data: int8 calibration images in the model's input
            scale (normalized like the training inputs), an array or a
            `tf.data.Dataset`; default for a run: `calibration_size`
            images drawn at random from its training split.
        labels: Class names; default for a run: its `metrics.json`.
        normalization: `{"mean": [...], "std": [...]}` of the inputs (see
            `keras_cnns.data.preprocessing.normalize`); default for a run:
            its `metrics.json`. None for a model that takes raw pixels.
        test_data: Held-out verification data: `(images, labels)`, images
            only, or a `tf.data.Dataset` of `(images, labels)` batches, in
            the model's input scale; default for a run: its test split.
        allow_flex_ops: Allow TensorFlow ("flex") operators in TFLite files.
        verify: Run and compare every format (see `keras_cnns.export.verify`).
        calibration_size: int8 calibration images (100 to 500 recommended).
        fold_normalization: Put the input normalization into the exported
            graphs, so that every format takes raw pixels in `[0, 255]`
            (the card says so). Data arguments stay in the model's input
            scale.
        min_quantized_agreement: Least top-1 agreement with Keras a
            `dynamic` / `int8` file must reach; None to only report it.
        max_quantized_accuracy_drop: Most test accuracy (a fraction: 0.02
            is 2 points) a `dynamic` / `int8` file may lose against the
            Keras model; None to only report it, and `mobile_int8`'s
            (held to 0.3 points otherwise) too.
        measure_latency: Time each format at batch 1 for the report.
        num_threads: LiteRT interpreter threads for verification and timing.
        look: The dataset's look for photo preparation: `"auto"` (measured
            from the training or calibration images), a
            `keras_cnns.inference.photos.DatasetLook`, or None (none).
        tta: `"run"` (the run's own `TrainConfig.tta`; none for a model
            without a run), None (none), or test-time augmentation's views
            (`"flip"`, `"flip_shift"`; `keras_cnns.train.tta`): every file then averages
            its answers over those views in one graph, and is verified
            against the Keras model wrapped the same way; its latency counts
            every view.
        name: Name in the card and the mobile files' metadata; default: the
            export folder's name.
        author: Author in the mobile files' metadata.
        license: Licence in the mobile files' metadata.
        command: The command to record in the card; default: this call.
        verbose: 1 prints progress lines and the report table.

    Returns:
        An `ExportReport`.

    Raises:
        ValueError: For bad arguments (unknown format, missing or wrong-shape
            data, a folder that is not an export), naming what to change.
        UnsupportedOpsError: If the model needs flex ops and
            `allow_flex_ops` is False.
        ValueError: Also when a format cannot hold the model (a mobile file
            needs one softmax output), before anything is written.
        ExportVerificationError: If a format does not give the Keras model's
            answers. Nothing is written to `out_dir` then.

    Example:

    ```python
    report = export_model("runs/resnet20-fashion_mnist", "exports/resnet20")
    print(report.table())
    classifier = TFLiteClassifier("exports/resnet20")
    ```
    """
    entries = check_formats(formats)
    check_tta_argument(tta)
    out_dir = os.path.abspath(os.fspath(out_dir))
    check_replaceable(out_dir)  # Before any slow work.
    check_writable(out_dir)
    with sibling_lock(out_dir, what="export folder"):
        return _export(entries, out_dir, model, labels, normalization, representative_data, test_data,
                       calibration_size, verify, look, allow_flex_ops, num_threads, fold_normalization,
                       min_quantized_agreement, max_quantized_accuracy_drop, measure_latency, tta, name, author,
                       license, command, verbose)


def _export(entries, out_dir, model, labels, normalization, representative_data, test_data, calibration_size,
            verify, look, allow_flex_ops, num_threads, fold_normalization, min_quantized_agreement,
            max_quantized_accuracy_drop, measure_latency, tta, name, author, license, command, verbose):
    """`export_model` once its arguments are checked and its folder held."""
    source = resolve_source(
        model, labels=labels, normalization=normalization, representative_data=representative_data,
        test_data=test_data, calibration_size=calibration_size,
        need_calibration=any(entry.needs_calibration for entry in entries),
        need_test=verify or any(entry.name.startswith("mobile") for entry in entries), look=look, verbose=verbose,
    )
    tta = source.tta if tta == "run" else tta
    if tta is not None:  # Every file, and the Keras model it is verified against, holds the views.
        source = dataclasses.replace(source, model=with_test_time_augmentation(source.model, tta))
    options = dict(allow_flex_ops=allow_flex_ops, num_threads=num_threads, fold_normalization=fold_normalization,
                   min_quantized_agreement=min_quantized_agreement,
                   max_quantized_accuracy_drop=max_quantized_accuracy_drop, verify=verify,
                   calibration_size=calibration_size, measure_latency=measure_latency)
    facts = dict(name=name or os.path.basename(out_dir), author=author, license=license,
                 version=f"keras-cnns {keras_cnns.__version__}, {_now()[:10]}")
    context = _prepared_context(source, entries, options, facts, verbose)
    command = command or _call_description(source, out_dir, tuple(entry.name for entry in entries))
    say("export", f"exporting {source.description} to {out_dir} as {', '.join(entry.name for entry in entries)}",
        verbose)
    with staged_export_folder(out_dir) as staging:
        context.staging = staging
        report = _write_and_check(context, entries, out_dir, verbose)
        atomic.write_json(os.path.join(staging, EXPORT_REPORT_FILE),
                          {**report.to_dict(), "command": command, "created_utc": _now()})
        report.card = build_model_card(
            name=facts["name"], architecture=source.architecture, dataset=source.dataset,
            class_names=source.class_names, image_shape=context.image_shape, normalization=source.normalization,
            normalization_folded=fold_normalization, output_activation=output_activation(source.model),
            look=source.look, calibration=context.temperature, keras_summary=report.keras, results=report.results,
            verification=report.verification, command=command, digests=file_digests(staging),
            test_time_augmentation=tta_views_of(source.model),
        )
        write_model_card(staging, report.card)
    say("export", f"wrote {out_dir}\n{report.table()}", verbose)
    return report


def _prepared_context(source, entries, options, facts, verbose):
    """The `ExportContext` of an export, with every check done and the Keras model's outputs and temperature."""
    image_shape = _image_shape(source.model)
    if options["fold_normalization"] and source.normalization is None:
        raise ValueError(
            "fold_normalization=True needs the input normalization: pass normalization={'mean': "
            "[...], 'std': [...]}, or export from a run directory."
        )
    graph, to_graph_input = _graph_to_export(source, options["fold_normalization"])
    context = ExportContext(source=source, staging=None, graph=graph, to_graph_input=to_graph_input,
                            options=options, metadata_facts=facts)
    if options["verify"] or source.test_images is not None:
        _check_test_images(source, image_shape)
    source.class_names = source.class_names or [str(i) for i in range(_num_classes(source.model))]
    for entry in entries:
        entry.check(context)
    if any(entry.needs_calibration for entry in entries):
        context.calibration = calibration_images(source.calibration, image_shape, options["calibration_size"],
                                                 normalization=source.normalization)
    if source.test_images is not None:
        say("export", f"running the Keras model on {len(source.test_images)} held-out images", verbose)
        context.keras_outputs = checks.predict_keras(source.model, source.test_images)
        context.temperature = _fit_temperature(source, context.keras_outputs)
    return context


def _write_and_check(context, entries, out_dir, verbose):
    """Writes every format into the staging folder, verifies and times them; returns the `ExportReport`."""
    source, options = context.source, context.options
    results = []
    for entry in entries:
        say("export", f"writing {entry.name}", verbose)
        results.append(entry.write(context))
    if options["verify"]:
        say("export", f"verifying on {len(source.test_images)} held-out images", verbose)
        for entry, result in zip(entries, results):
            entry.verify(context, result)
        failed = [result for result in results if result.passed is False]
        if failed:
            raise checks.ExportVerificationError(_failure_message(failed), results)
    keras_summary = {"num_params": int(source.model.count_params())}
    if context.keras_outputs is not None:
        keras_summary.update(accuracy=checks.accuracy(context.keras_outputs, source.test_labels),
                             num_images=len(context.keras_outputs))
    if options["measure_latency"]:
        say("export", "timing each format at batch 1", verbose)
        keras_summary["latency_ms"] = _keras_latency(source.model, context.image_shape)
        for entry, result in zip(entries, results):
            result.latency_ms = entry.latency(context, result)
    if context._saved_model is not None and SAVED_MODEL not in [entry.name for entry in entries]:
        shutil.rmtree(context._saved_model)
    if context._mobile_parts is not None:
        shutil.rmtree(context._mobile_parts.folder)
    verification = _verification_facts(options["verify"], source, options["min_quantized_agreement"],
                                       options["max_quantized_accuracy_drop"], options["num_threads"])
    return ExportReport(out_dir=out_dir, results=results, keras=keras_summary, verification=verification)


def _fit_temperature(source, keras_outputs):
    """The `Calibration` of a softmax classifier from held-out images, or None (logits, test-time
    augmentation, or no labels)."""
    if source.test_labels is None or output_activation(source.model) not in _CALIBRATED_ACTIVATIONS:
        return None
    if tta_views_of(source.model) is not None:
        # The mobile files scale each view's logits; an average of views has none to scale: no temperature.
        return None
    validation = None
    if source.validation is not None:
        images, labels = source.validation
        validation = (checks.predict_keras(source.model, images), labels, "the run's validation split")
    try:
        return fit_calibration(validation, (keras_outputs, source.test_labels, source.test_origin or "the test images"))
    except ValueError:  # Too few held-out images: no temperature rather than a noisy one.
        return None


def fold_normalization_into(model, normalization):
    """A model that takes raw pixels in `[0, 255]`: `Rescaling` by `1 / (255 std)` and `-mean / std`, then `model`.

    The rescaling is the same affine map as `normalize`, so the new model's
    outputs on pixels equal `model`'s on normalized inputs (up to float
    rounding).
    """
    mean = np.asarray(normalization["mean"], dtype=np.float32)
    std = np.asarray(normalization["std"], dtype=np.float32)
    inputs = keras.Input(shape=model.input_shape[1:], name="pixels")
    scaled = keras.layers.Rescaling(scale=(1.0 / (255.0 * std)).tolist(), offset=(-mean / std).tolist(),
                                    name="normalization")(inputs)
    return keras.Model(inputs, model(scaled), name=model.name)


def _graph_to_export(source, fold):
    if not fold:
        return source.model, lambda images: images
    return (fold_normalization_into(source.model, source.normalization),
            lambda images: denormalize(images, source.normalization))


def _keras_latency(model, image_shape):
    """Milliseconds per image at batch 1 through Keras' compiled predict function (`predict_on_batch`,
    traced in the warm-up), as a Keras user's loop runs it; an eager `model(image)` call dispatches each
    layer from Python (ResNet-20 on a 2-core Xeon: 194 ms eager, 18 ms compiled, 0.9 ms as float32 TFLite)."""
    image = np.zeros((1, *image_shape), np.float32)
    return latency.measure_latency(lambda: model.predict_on_batch(image), runs=REPORT_LATENCY_RUNS)


def _verification_facts(verify, source, min_agreement, max_accuracy_drop, num_threads):
    if not verify:
        return {"run": False}
    return {
        "run": True,
        "num_images": len(source.test_images),
        "images": source.test_origin,
        "float_formats": checks.FLOAT_RULE + "; saved_model and float32 against the Keras model, "
                         "float16 against the float32 TFLite file with float16-rounded constants",
        "quantized_formats": checks.quantized_rule(min_agreement, max_accuracy_drop),
        "mobile_formats": (f"mobile_float32: top-1 agreement with the Keras model >= {checks.MOBILE_MIN_AGREEMENT:g}; "
                           + (f"mobile_int8: test accuracy at most {checks.MOBILE_MAX_ACCURACY_DROP * 100:g} points below "
                              "the Keras model's" if max_accuracy_drop is not None else "mobile_int8: reported only")
                           + "; both on the test images as loaded (pixels at the dataset's own size)"),
        "tolerance": {"absolute": checks.FLOAT_TOLERANCE, "relative": checks.FLOAT_TOLERANCE},
        "interpreter": f"ai_edge_litert Interpreter (XNNPACK), {num_threads or 1} thread(s)",
    }


def _failure_message(failed):
    lines = []
    for result in failed:
        if result.note:
            lines.append(f"{result.format}: {result.note}")
        elif result.format in checks.FLOAT_FORMATS:
            lines.append(f"{result.format}: largest output difference {result.max_abs_diff:.3g} against the "
                         f"{result.reference} ({result.tolerance_ratio:.3g}x the allowed 1e-4 + 1e-4|y|)")
        else:
            drop = "" if result.accuracy_drop is None else (
                f", test accuracy {result.accuracy:.4f} ({result.accuracy_drop * 100:.2f} points below Keras)")
            lines.append(f"{result.format}: top-1 agreement with Keras {result.agreement:.4f}{drop}; required: "
                         f"{result.rule}")
    return ("Export verification failed, so nothing was written: " + "; ".join(lines) + ". A float "
            "mismatch means the converted graph computes something else than the Keras model (an "
            "unsupported layer or a converter bug); a quantized one, usually too few or unrepresentative "
            "calibration images (representative_data) or an untrained model (pass "
            "min_quantized_agreement=None and max_quantized_accuracy_drop=None to only report them).")


def _image_shape(model):
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or any(dim is None for dim in shape[1:]):
        raise ValueError(
            f"export_model exports models with one fixed-size image input (None, H, W, C); "
            f"{model.name} takes {shape}. Build it with input_shape=(H, W, C)."
        )
    return tuple(int(dim) for dim in shape[1:])


def _num_classes(model):
    return int(model.output_shape[-1])


def _check_test_images(source, image_shape):
    if source.test_images is None:
        raise ValueError(
            f"verify=True runs every exported file on held-out images, but none were given for "
            f"{source.description} (not a run directory, whose test split would be used): pass "
            "test_data=(images, labels) prepared like the training inputs, export the run directory "
            "the model was trained in, or skip verification (verify=False; --no-verify on the command "
            "line)."
        )
    shape = tuple(source.test_images.shape)
    if len(shape) != 4 or shape[1:] != image_shape or shape[0] == 0:
        raise ValueError(
            f"The verification images (test_data) have shape {shape}, but the model takes "
            f"(N, {', '.join(map(str, image_shape))}) with N >= 1. Pass held-out images of the model's "
            "input size, prepared like its training inputs."
        )


def _call_description(source, out_dir, formats):
    return f"keras_cnns.export.export_model({source.description!r}, {out_dir!r}, formats={formats!r})"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _number(value, digits=4, scientific=False):
    if value is None:
        return "-"
    return f"{value:.{digits}e}" if scientific else f"{value:.{digits}f}"


def _size(size_bytes):
    return f"{size_bytes / 1024:.1f} KiB" if size_bytes < 1024 * 1024 else f"{size_bytes / 1024 ** 2:.2f} MiB"

"""Export: SavedModel and every TFLite format give the Keras model's answers, or the export fails.

Real images throughout: scikit-learn's digits at 32x32 (the fast real set).
Conversions cost seconds, so each model is exported once per module and the
tests share the result.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
from conftest import run_main
import tensorflow as tf

import keras_cnns
from keras_cnns.data import load_dataset
from keras_cnns.export import (
    ExportVerificationError,
    UnsupportedOpsError,
    convert_to_tflite,
    export_model,
    export_saved_model,
    flex_operators,
    measure_tflite_latency,
)
from keras_cnns.export import exporter, formats, staging, tflite, verify
from keras_cnns.export.source import take_examples
from keras_cnns.inference import TFLiteRunner, check_sha256, read_model_card, sha256_file

ALL_FORMATS = ("saved_model", "float32", "float16", "dynamic", "int8")
# Small builds of every family that fits CI, at 32x32x1 (digits).
FAMILIES = {
    "lenet5": {},
    "resnet20": {"width_multiplier": 0.5},
    "vgg11": {"width_multiplier": 0.125},
    "googlenet": {"width_multiplier": 0.125},
    "nin": {"width_multiplier": 0.25},
    "allconv": {"width_multiplier": 0.25},
}
NUM_TEST = 64


@pytest.fixture(scope="module")
def digits(digits_arrays):
    return digits_arrays


@pytest.fixture(scope="module")
def trained_lenet(digits):
    """LeNet-5 fitted for a few epochs on digits: a model whose int8 copy must agree with it."""
    bundle, x_train, y_train, _, _ = digits
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model("lenet5", input_shape=bundle.image_shape, classes=10,
                                 activation="relu", batch_norm=True, downsampling="max_pool")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=6, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def lenet_export(trained_lenet, digits, tmp_path_factory):
    bundle, x_train, _, x_test, y_test = digits
    out = tmp_path_factory.mktemp("export") / "lenet5_digits"
    report = export_model(
        trained_lenet, out, formats=ALL_FORMATS, representative_data=x_train[:120],
        test_data=(x_test, y_test), labels=bundle.class_names, normalization=bundle.normalization,
    )
    return report, out


# ------------------------------------------------------------ every family


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_round_trip_of_every_family(name, digits, tmp_path):
    bundle, x_train, _, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    # Untrained, so it outputs logits: softmax would squash them to nearly uniform probabilities,
    # on which any int8 file (a broken one too) is within a quantization step of Keras.
    model = keras_cnns.get_model(name, input_shape=bundle.image_shape, classes=10, classifier_activation=None,
                                 **FAMILIES[name])
    images = x_test[:NUM_TEST]
    report = export_model(
        model, tmp_path / name, formats=ALL_FORMATS, representative_data=x_train[:100],
        test_data=(images, y_test[:NUM_TEST]), normalization=bundle.normalization,
        # Untrained: agreement and accuracy are reported, not required; the outputs are checked below.
        min_quantized_agreement=None, max_quantized_accuracy_drop=None,
        measure_latency=False,
    )
    for format in ("saved_model", "float32", "float16"):
        result = report[format]
        assert result.passed is True, (format, result)
        assert result.tolerance_ratio <= 1.0 and result.num_images == NUM_TEST
    # Quantized logits stay close to Keras': measured 0.01 to 0.05 of the logits' spread for every
    # family, against more than 1 for the int8 file of another initialisation.
    expected = model.predict(images, verbose=0)
    spread = np.linalg.norm(expected - expected.mean())
    for format in ("dynamic", "int8"):
        outputs = TFLiteRunner(report.path(format)).run(images)
        assert np.linalg.norm(outputs - expected) / spread < 0.2, format
    assert report["int8"].details["input"]["dtype"] == "int8"
    assert report["int8"].details["output"]["dtype"] == "int8"
    assert report["int8"].size_bytes < report["float32"].size_bytes
    assert report["int8"].details["xnnpack_partitions"] >= 1  # XNNPACK's int8 kernels run it

    # Plain TensorFlow, no Keras: the serving signature at batch sizes 1 and 7.
    serve = tf.saved_model.load(str(tmp_path / name / "saved_model")).signatures["serving_default"]
    # And the float32 TFLite file, its batch dimension resized to 1 and 7.
    runner = TFLiteRunner(tmp_path / name / "model_float32.tflite")
    for batch in (1, 7):
        images = x_test[:batch]
        expected = model.predict(images, verbose=0)
        served = next(iter(serve(tf.constant(images)).values())).numpy()
        np.testing.assert_allclose(served, expected, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(runner.run(images), expected, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------ a trained model, all formats


def test_trained_model_formats_agree_with_keras(lenet_export):
    report, _ = lenet_export
    assert report.passed
    keras_accuracy = report.keras["accuracy"]
    assert keras_accuracy > 0.8  # ten classes: chance is 0.1
    for format in ("saved_model", "float32"):
        assert report[format].accuracy == pytest.approx(keras_accuracy, abs=1e-9)
        assert report[format].agreement == 1.0
    # float16 equals the float32 file with float16-rounded constants, and is close to Keras.
    assert report["float16"].reference.startswith("float32 TFLite")
    assert report["float16"].max_abs_diff_to_keras < 0.05
    for format in ("dynamic", "int8"):
        assert report[format].agreement >= 0.9
        assert abs(report[format].accuracy - keras_accuracy) < 0.05
    assert report["int8"].size_bytes * 3 < report["float32"].size_bytes
    assert all(result.latency_ms > 0 for result in report.results)


def test_model_card_and_report_describe_the_files(lenet_export, digits):
    report, out = lenet_export
    bundle = digits[0]
    card = read_model_card(out)
    assert card == report.card
    assert card["class_names"] == bundle.class_names
    assert card["input"]["shape"] == list(bundle.image_shape)
    assert card["input"]["normalization"] == bundle.normalization
    assert card["output"]["activation"] == "softmax"
    int8 = card["formats"]["int8"]
    assert int8["input"]["dtype"] == "int8" and int8["input"]["quantization"]["scale"] > 0
    assert int8["calibration_images"] == 120
    assert card["formats"]["float32"]["accuracy"] == report["float32"].accuracy
    assert card["versions"]["tensorflow"] == tf.__version__
    assert card["command"].startswith("keras_cnns.export.export_model(")
    assert card["verification"]["images"] == "the test_data passed to export_model"
    assert "at most 2 points below the Keras model's" in card["verification"]["quantized_formats"]
    assert card["formats"]["int8"]["accuracy_drop_vs_keras"] == pytest.approx(
        report.keras["accuracy"] - report["int8"].accuracy)
    # Every file but the card itself is listed with its SHA-256, and nothing else is.
    files = {os.path.relpath(os.path.join(root, name), out).replace(os.sep, "/")
             for root, _, names in os.walk(out) for name in names}
    assert set(card["sha256"]) == files - {"model_card.json"}
    for relative, digest in card["sha256"].items():
        assert sha256_file(out / relative) == digest
    saved = json.loads((out / "export_report.json").read_text())
    assert [entry["format"] for entry in saved["formats"]] == list(ALL_FORMATS)
    table = report.table()
    assert all(format in table for format in ALL_FORMATS) and "FAILED" not in table


def test_sha256_check_catches_a_changed_file(lenet_export, tmp_path):
    _, out = lenet_export
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("model_card.json", "model_float32.tflite"):
        (copy / name).write_bytes((out / name).read_bytes())
    check_sha256(copy / "model_float32.tflite", read_model_card(copy))
    content = bytearray((copy / "model_float32.tflite").read_bytes())
    content[-100] ^= 0xFF
    (copy / "model_float32.tflite").write_bytes(bytes(content))
    with pytest.raises(ValueError, match="SHA-256"):
        check_sha256(copy / "model_float32.tflite", read_model_card(copy))


def test_folded_normalization_takes_raw_pixels(trained_lenet, digits, tmp_path):
    bundle, x_train, _, x_test, y_test = digits
    report = export_model(
        trained_lenet, tmp_path / "folded", formats=("float32", "int8"), representative_data=x_train[:100],
        test_data=(x_test[:NUM_TEST], y_test[:NUM_TEST]), normalization=bundle.normalization,
        fold_normalization=True, measure_latency=False,
    )
    assert report.passed and report.card["input"]["normalization_folded"]
    mean, std = (np.asarray(bundle.normalization[key], np.float32) for key in ("mean", "std"))
    pixels = (x_test[:7] * std + mean) * 255.0
    outputs = TFLiteRunner(report.path("float32")).run(pixels)
    np.testing.assert_allclose(outputs, trained_lenet.predict(x_test[:7], verbose=0), atol=1e-4, rtol=1e-4)
    # Pixels 0..255 quantize almost exactly: one int8 step per pixel step.
    scale = report.card["formats"]["int8"]["input"]["quantization"]["scale"]
    assert 0.9 < scale < 1.1


# ------------------------------------------------------------ clear refusals


@pytest.mark.zoo
def test_tflite_conversion_needs_the_tensorflow_backend():
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    if keras.backend.backend() == "tensorflow":
        assert TFLiteRunner(convert_to_tflite(model)).input_shape == (8, 8, 1)
    else:
        with pytest.raises(RuntimeError, match="needs the TensorFlow backend.*KERAS_BACKEND=tensorflow"):
            convert_to_tflite(model)


def test_int8_calibration_with_wrong_shape_fails_clearly(trained_lenet, digits):
    x_train = digits[1]
    wrong = tf.image.resize(x_train[:100], (28, 28)).numpy()
    with pytest.raises(ValueError, match=r"calibration.*\(100, 28, 28, 1\).*\(N, 32, 32, 1\)"):
        convert_to_tflite(trained_lenet, "int8", representative_data=wrong)
    with pytest.raises(ValueError, match="needs calibration images"):
        convert_to_tflite(trained_lenet, "int8")


def test_int8_calibration_on_raw_pixels_is_refused(trained_lenet, digits):
    bundle, x_train = digits[0], digits[1]
    mean, std = bundle.normalization["mean"][0], bundle.normalization["std"][0]
    raw_pixels = (x_train[:100] * std + mean) * 255.0
    with pytest.raises(ValueError, match="look like raw pixels"):
        convert_to_tflite(trained_lenet, "int8", representative_data=raw_pixels,
                          normalization=bundle.normalization)


def test_bad_arguments_fail_where_they_enter(trained_lenet, digits, tmp_path):
    x_test, y_test = digits[3], digits[4]
    with pytest.raises(ValueError, match="formats must be distinct names"):
        export_model(trained_lenet, tmp_path / "a", formats=("float32", "float64"))
    with pytest.raises(ValueError, match="held-out images"):
        export_model(trained_lenet, tmp_path / "b", formats=("float32",))
    with pytest.raises(ValueError, match=r"test_data\) have shape \(5, 32, 32\)"):
        export_model(trained_lenet, tmp_path / "c", formats=("float32",), test_data=x_test[:5, ..., 0])
    with pytest.raises(ValueError, match="Unknown quantization"):
        convert_to_tflite(trained_lenet, "int4")
    not_a_model = tmp_path / "renamed.keras"
    not_a_model.write_text("a text file renamed .keras")
    with pytest.raises(ValueError, match=r"renamed.keras is damaged: it is not a complete .keras archive"):
        export_model(not_a_model, tmp_path / "d", formats=("float32",))
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not an export"):
        export_model(trained_lenet, occupied, formats=("float32",), test_data=(x_test[:8], y_test[:8]))
    assert (occupied / "notes.txt").read_text() == "mine"


class _Erf(keras.layers.Layer):
    def call(self, x):
        return keras.ops.erf(x)


def test_a_model_with_a_flex_op_is_refused_unless_allowed(tmp_path):
    inputs = keras.Input((8, 8, 1))
    x = _Erf()(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x)))
    with pytest.raises(UnsupportedOpsError, match="Erf") as caught:
        convert_to_tflite(model, "float32")
    assert caught.value.flex_ops == ["Erf"]
    content = convert_to_tflite(model, "float32", allow_flex_ops=True)
    assert flex_operators(content) == ["FlexErf"]
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    with pytest.raises(UnsupportedOpsError):
        export_model(model, tmp_path / "refused", formats=("float32",), test_data=images)
    assert not (tmp_path / "refused").exists()
    with pytest.warns(UserWarning, match="not verified"):
        report = export_model(model, tmp_path / "allowed", formats=("float32",), test_data=images,
                              allow_flex_ops=True, measure_latency=False)
    assert report["float32"].passed is None and "Flex delegate" in report["float32"].note


def test_failed_float_verification_is_an_error_and_writes_nothing(trained_lenet, digits, tmp_path,
                                                                  monkeypatch):
    x_test, y_test = digits[3], digits[4]
    original_run = formats.TFLiteRunner.run

    def off_by_a_little(self, images, **kwargs):
        return original_run(self, images, **kwargs) + 1e-3

    monkeypatch.setattr(formats.TFLiteRunner, "run", off_by_a_little)
    with pytest.raises(ExportVerificationError, match="float32: largest output difference") as caught:
        export_model(trained_lenet, tmp_path / "out", formats=("float32",), test_data=(x_test[:16], y_test[:16]),
                     measure_latency=False)
    assert caught.value.results[0].passed is False
    assert not (tmp_path / "out").exists()
    # Nothing but the export's lock file (an empty `.out.lock`, kept like any lock file).
    assert [entry for entry in os.listdir(tmp_path) if entry.startswith(".")] == [".out.lock"]


def test_float16_alone_checks_its_float32_reference_against_keras(trained_lenet, digits, tmp_path,
                                                                   monkeypatch):
    x_test, y_test = digits[3], digits[4]
    test_data = (x_test[:16], y_test[:16])
    report = export_model(trained_lenet, tmp_path / "fine", formats=("float16",), test_data=test_data,
                          measure_latency=False)
    assert report["float16"].passed is True and "checked against the Keras model" in report["float16"].reference
    # A converter that computes another network in every format: float16 equals its rounded
    # float32 sibling, so only the check of that sibling against Keras can catch it.
    other = export_saved_model(keras.models.clone_model(trained_lenet), tmp_path / "other_weights")
    original_convert = tflite.convert_to_tflite
    monkeypatch.setattr(tflite, "convert_to_tflite",
                        lambda saved_model, *args, **kwargs: original_convert(other, *args, **kwargs))
    with pytest.raises(ExportVerificationError, match="float16: its float32 reference .* differs from the Keras"):
        export_model(trained_lenet, tmp_path / "wrong", formats=("float16",), test_data=test_data,
                     measure_latency=False)
    assert not (tmp_path / "wrong").exists()


def test_a_quantized_file_that_loses_accuracy_fails_despite_high_agreement():
    labels = np.arange(100) % 10
    keras_outputs = np.eye(10, dtype=np.float32)[labels]  # Keras: every image right
    quantized = keras_outputs.copy()
    quantized[:5] = np.roll(quantized[:5], 1, axis=-1)  # 5 images wrong: agreement 0.95, 5 points lost
    result = verify.judge_quantized(verify.FormatResult("int8", "model_int8.tflite"), quantized, labels,
                                    keras_outputs)
    assert result.agreement == pytest.approx(0.95) and result.accuracy_drop == pytest.approx(0.05)
    assert result.passed is False
    message = exporter._failure_message([result])
    assert "5.00 points below Keras" in message and "at most 2 points below" in message
    lenient = verify.judge_quantized(verify.FormatResult("int8", "model_int8.tflite"), quantized, labels,
                                     keras_outputs, max_accuracy_drop=0.05)
    assert lenient.passed is True
    unlabelled = verify.judge_quantized(verify.FormatResult("int8", "model_int8.tflite"), quantized, None,
                                        keras_outputs)
    assert unlabelled.passed is True and unlabelled.accuracy_drop is None
    mobile = verify.judge_mobile_quantized(verify.FormatResult("mobile_int8", "model_mobile_int8.tflite"), quantized,
                                           labels, keras_outputs)
    assert mobile.passed is False and "at most 1 points below" in mobile.rule  # One image of 100: 1 point.
    reported = verify.judge_mobile_quantized(verify.FormatResult("mobile_int8", "model_mobile_int8.tflite"),
                                             quantized, labels, keras_outputs, max_accuracy_drop=None)
    assert reported.passed is True and reported.accuracy_drop == pytest.approx(0.05) and "reported only" in reported.rule


# ------------------------------------------------------------ interrupted exports

_KILLED_EXPORT = textwrap.dedent("""
    import sys, time
    import keras, numpy as np
    from keras_cnns.export import exporter, tflite

    def stall(*args, **kwargs):
        open(sys.argv[2], "w").close()
        time.sleep(120)

    tflite.convert_to_tflite = stall
    model = keras.saving.load_model(sys.argv[3])
    images = np.load(sys.argv[4])
    exporter.export_model(model, sys.argv[1], formats=("saved_model", "float32"), test_data=images)
""")


def test_an_interrupted_export_leaves_the_previous_one_intact(trained_lenet, digits, tmp_path):
    x_test, y_test = digits[3], digits[4]
    out = tmp_path / "model"
    export_model(trained_lenet, out, formats=("float32",), test_data=(x_test[:16], y_test[:16]),
                 measure_latency=False)
    before = read_model_card(out)
    model_path, images_path, marker = tmp_path / "m.keras", tmp_path / "x.npy", tmp_path / "converting"
    trained_lenet.save(model_path)
    np.save(images_path, x_test[:16])
    script = tmp_path / "killed_export.py"
    script.write_text(_KILLED_EXPORT)
    process = subprocess.Popen([sys.executable, str(script), str(out), str(marker), str(model_path),
                                str(images_path)], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        deadline = time.time() + 240
        while not marker.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), "the export subprocess never reached the conversion"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # The killed export's half-built folder is hidden; the old export is untouched.
    leftovers = [entry for entry in os.listdir(tmp_path) if entry.startswith(".model.tmp-")]
    assert leftovers
    assert read_model_card(out) == before
    for relative, digest in before["sha256"].items():
        assert sha256_file(out / relative) == digest
    # The next export cleans up after the killed one and replaces the old export.
    report = export_model(trained_lenet, out, formats=("saved_model", "float32"),
                          test_data=(x_test[:16], y_test[:16]), measure_latency=False)
    assert report.passed and (out / "saved_model" / "saved_model.pb").exists()
    assert [entry for entry in os.listdir(tmp_path) if entry.startswith(".model.")] == [".model.lock"]


def test_a_kill_between_the_two_renames_is_recovered(tmp_path):
    out = tmp_path / "model"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_pid = int(finished.stdout)
    old = tmp_path / f".model.old-{dead_pid}-0123abcd"
    old.mkdir()
    (old / "model_card.json").write_text("{}")
    staging.recover_interrupted_export(out)
    assert (out / "model_card.json").exists() and not old.exists()


# ------------------------------------------------------------ latency helper


def test_measure_tflite_latency_runs_any_batch(lenet_export):
    report, _ = lenet_export
    for format in ("float32", "int8"):
        assert measure_tflite_latency(report.path(format), runs=3, warmup=1, batch_size=4) > 0
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        measure_tflite_latency(report.path("int8"), batch_size=0)


# ------------------------------------------------------------ run directory and command line


def test_export_and_predict_commands_on_a_run_directory(tmp_path, capsys):
    from PIL import Image

    from keras_cnns.train import default_config, train

    # Six epochs: a model two epochs in can still lose more than the gates allow to int8 (2.2 points seen).
    run_dir = tmp_path / "run"
    config = default_config("lenet5", "digits", epochs=6, batch_size=64, out_dir=str(run_dir),
                            model_kwargs={"activation": "relu", "batch_norm": True})
    metrics = train(config, verbose=0).metrics
    out = tmp_path / "exported"
    status, stdout, stderr = run_main(capsys, "export", run_dir, "--out", out, "--calibration-size", "120")
    assert status == 0, stderr[-3000:]
    assert "int8" in stdout and "verified" in stdout
    card = read_model_card(out)
    assert card["class_names"] == metrics["class_names"]
    assert card["input"]["normalization"] == metrics["normalization"]
    assert card["dataset"]["name"] == "digits" and card["architecture"]["model"] == "lenet5"
    assert card["formats"]["int8"]["calibration_images"] == 120
    assert card["keras"]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert card["command"].startswith(f"keras-cnns export {run_dir} --out {out} --formats {','.join(formats.DEFAULT_FORMATS)}")
    assert card["verification"]["images"] == "the run's test split, prepared as in training"
    # Data given explicitly wins over the run's, and the card says which was used.
    x_test, y_test = take_examples(load_dataset("digits", augment=None).test)
    report = export_model(run_dir, tmp_path / "own_images", formats=("saved_model",),
                          test_data=(x_test[:20], y_test[:20]), measure_latency=False)
    assert report.verification["images"] == "the test_data passed to export_model"
    assert report.verification["num_images"] == 20 and report.card["dataset"]["name"] == "digits"

    image = tmp_path / "digit.png"
    Image.fromarray(np.kron(np.eye(8, dtype=np.uint8) * 255, np.ones((9, 9), np.uint8))).save(image)
    status, stdout, stderr = run_main(capsys, "predict", out, image, "--top-k", "2")
    assert status == 0, stderr[-3000:]
    line = stdout.strip().splitlines()[-1]
    assert line.startswith(str(image)) and len(line.split()) == 5  # path, then 2 x (label, probability)

    status, _, stderr = run_main(capsys, "predict", out, tmp_path / "missing.png")
    assert status == 2 and "No image file at" in stderr and len(stderr.strip().splitlines()) == 1
    status, _, stderr = run_main(capsys, "export", run_dir, "--out", run_dir)
    assert status == 2 and "not an export" in stderr and len(stderr.strip().splitlines()) == 1
    status, _, stderr = run_main(capsys, "predict", run_dir, image)
    assert status == 2 and f"not an export. Export it first (keras-cnns export {run_dir} --out DIR)" in stderr
    lone = tmp_path / "elsewhere" / "model.keras"  # outside its run: no test images to verify on
    lone.parent.mkdir()
    lone.write_bytes((run_dir / "best.keras").read_bytes())
    status, _, stderr = run_main(capsys, "export", lone, "--out", tmp_path / "lone_export")
    assert status == 2 and "--no-verify" in stderr and not (tmp_path / "lone_export").exists()

"""Mobile files that MediaPipe's ImageClassifier runs as they are, and photos as users have them.

MediaPipe is the real client (`pip install 'keras-cnns[mobile]'`, which
tests/run.sh installs); the round trips go through its ImageClassifier and
read the class names back from the file. Photos are made from real images
(`product_photo`: negated, off-centre on white, JPEG); Fashion-MNIST tests
skip when Debian's files are not installed.
"""

import io
import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.data import normalize
from keras_cnns.data.resample import resize_images
from keras_cnns.export import ExportVerificationError, export_model
from keras_cnns.export.mobile import PhotoPreparation, mobile_input_size
from keras_cnns.export.mobile_runtime import resize_as_mediapipe, run_mediapipe
from keras_cnns.export.tflite_graphs import chain_tflite
from keras_cnns.export.tflite_metadata import ImageClassifierMetadata, MetadataError, read_metadata, write_metadata
from keras_cnns.inference import TFLiteClassifier, TFLiteRunner, read_model_card
from keras_cnns.inference.calibration import calibrate, expected_calibration_error, fit_calibration
from keras_cnns.inference.photos import DatasetLook, measure_dataset_look, prepare_photo, product_photo

mediapipe = pytest.importorskip("mediapipe", reason="the mobile extra (pip install 'keras-cnns[mobile]')")
MOBILE = ("mobile_float32", "mobile_int8")
# Small builds of three families, trained briefly on digits.
FAMILIES = {"lenet5": {}, "resnet20": {"width_multiplier": 0.5}, "vgg11_bn": {"width_multiplier": 0.125}}


def _fit(name, image_shape, x, y, epochs, **kwargs):
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(name, input_shape=image_shape, classes=10, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="module")
def digits(digits_arrays):
    return digits_arrays


@pytest.fixture(scope="module")
def fashion_export(fashion_mnist_slice, tmp_path_factory):
    """LeNet-5 fitted on 6,000 Fashion-MNIST images, exported with every TFLite format."""
    (x_train, y_train), (x_test, y_test), class_names = fashion_mnist_slice
    padded = resize_images(x_train, (32, 32))
    normalization = {"mean": [float(padded.mean() / 255)], "std": [float(padded.std() / 255)]}
    model = _fit("lenet5", (32, 32, 1), normalize(padded, normalization), y_train, 4,
                 activation="relu", batch_norm=True, downsampling="max_pool")
    out = tmp_path_factory.mktemp("mobile") / "lenet5_fashion"
    test_inputs = normalize(resize_images(x_test, (32, 32)), normalization)
    report = export_model(model, out, formats=("float32", "int8", *MOBILE),
                          representative_data=normalize(padded[:200], normalization),
                          test_data=(test_inputs, y_test), labels=class_names, normalization=normalization,
                          measure_latency=False, name="lenet5_fashion")
    return dict(report=report, out=out, model=model, x_test=x_test, y_test=y_test, class_names=class_names,
                keras_top1=model.predict(test_inputs, verbose=0).argmax(-1))


# ------------------------------------------------------------ MediaPipe round trips


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_mediapipe_runs_the_mobile_files_of_three_families(name, digits, tmp_path):
    bundle, x_train, y_train, x_test, y_test = digits
    model = _fit(name, bundle.image_shape, x_train, y_train, 3, **FAMILIES[name])
    report = export_model(model, tmp_path / name, formats=MOBILE, representative_data=x_train[:100],
                          test_data=(x_test[:120], y_test[:120]), labels=[f"digit {i}" for i in range(10)],
                          normalization=bundle.normalization, measure_latency=False)
    assert report.passed
    expected = model.predict(x_test[:120], verbose=0)
    pixels = np.clip(np.rint(x_test[:120] * bundle.normalization["std"][0] * 255
                             + bundle.normalization["mean"][0] * 255), 0, 255).astype(np.uint8)
    for format in MOBILE:
        assert "MediaPipe" in report[format].details["runtime"]
        content = (tmp_path / name / report[format].path).read_bytes()
        probabilities, labels = run_mediapipe(content, pixels)
        assert labels == [f"digit {i}" for i in range(10)]  # read back from the file by MediaPipe
        assert probabilities.shape == (120, 10)
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)
        agreement = np.mean(probabilities.argmax(-1) == expected.argmax(-1))
        assert agreement >= (0.995 if format == "mobile_float32" else 0.9), (format, agreement)
        runner = TFLiteRunner(content)
        assert runner.input_dtype == np.uint8 and runner.input_shape[-1] == 3
        assert runner.output_dtype == np.float32 and runner.output_shape == (10,)
    int8_operators = report["mobile_int8"].details["operators"]
    assert "QUANTIZE" in int8_operators and "DEQUANTIZE" in int8_operators
    assert report["mobile_int8"].size_bytes < report["mobile_float32"].size_bytes


def test_a_fashion_mnist_export_passes_mediapipe_and_reads_back_its_metadata(fashion_export):
    report, out = fashion_export["report"], fashion_export["out"]
    assert report.passed and report["mobile_float32"].agreement >= 0.995
    assert not (out / "_mobile_parts").exists()  # the mobile files' shared network, staged only
    assert report["mobile_int8"].accuracy_drop <= 0.003
    card = read_model_card(out)
    look = DatasetLook.from_dict(card["input"]["dataset_look"])
    # Measured on the calibration images, at the model's size: a bare model does not know the dataset's own.
    assert look.background == "dark" and look.image_size == (32, 32) and look.object_fill > 0.9
    for format in MOBILE:
        content = (out / card["formats"][format]["file"]).read_bytes()
        metadata = read_metadata(content)
        assert metadata.labels == fashion_export["class_names"]
        assert metadata.name == "lenet5_fashion" and metadata.min_parser_version == "1.0.0"
        assert metadata.color_space == "RGB" and metadata.image_size == (224, 224)
        assert (metadata.mean, metadata.std, metadata.input_range) == ([0.0], [1.0], (0.0, 255.0))
        assert "calibrated" in metadata.description and metadata.license and metadata.author
        assert card["formats"][format]["temperature_folded"] == pytest.approx(card["calibration"]["temperature"])
        _check_with_mediapipe_schema(content, metadata)


def _check_with_mediapipe_schema(content, metadata):
    """The metadata read by MediaPipe's own generated module, not by ours."""
    from ai_edge_litert import schema_py_generated as schema
    from mediapipe.tasks.metadata import metadata_schema_py_generated as metadata_schema

    model = schema.Model.GetRootAsModel(content, 0)
    entries = [model.Metadata(i) for i in range(model.MetadataLength())]
    buffer = next(model.Buffers(e.Buffer()) for e in entries if e.Name() == b"TFLITE_METADATA")
    data = buffer.DataAsNumpy().tobytes()
    parsed = metadata_schema.ModelMetadataT.InitFromObj(metadata_schema.ModelMetadata.GetRootAsModelMetadata(data, 0))
    assert parsed.name.decode() == metadata.name and parsed.minParserVersion.decode() == "1.0.0"
    image = parsed.subgraphMetadata[0].inputTensorMetadata[0]
    assert image.content.contentPropertiesType == metadata_schema.ContentProperties.ImageProperties
    assert list(image.processUnits[0].options.mean) == [0.0]
    label_file = parsed.subgraphMetadata[0].outputTensorMetadata[0].associatedFiles[0]
    assert label_file.type == metadata_schema.AssociatedFileType.TENSOR_AXIS_LABELS
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.getinfo(label_file.name.decode()).compress_type == zipfile.ZIP_STORED


def test_metadata_problems_are_clear_errors(fashion_export, tmp_path):
    content = (fashion_export["out"] / "model_mobile_float32.tflite").read_bytes()
    plain = (fashion_export["out"] / "model_float32.tflite").read_bytes()
    with pytest.raises(MetadataError, match="holds no TFLite metadata"):
        read_metadata(plain)
    metadata = read_metadata(content)
    with pytest.raises(MetadataError, match="already holds TFLite metadata"):
        write_metadata(content, metadata)
    wrong_count = ImageClassifierMetadata(**{**vars(metadata), "labels": metadata.labels[:3]})
    with pytest.raises(MetadataError, match="3 classes but the model outputs 10"):
        write_metadata(plain, wrong_count)
    # The packed label file cut off: the flatbuffer still names it.
    flatbuffer_only = content[: content.index(b"PK\x03\x04")]
    with pytest.raises(MetadataError, match="labels.txt"):
        read_metadata(flatbuffer_only)
    broken = bytearray(content)
    start = broken.index(b"M001") - 4
    broken[start + 4 : start + 8] = b"XXXX"
    with pytest.raises(MetadataError, match="not a metadata flatbuffer"):
        read_metadata(bytes(broken))


# ------------------------------------------------------------ photos


def test_negated_off_centre_photos_are_classified_as_their_originals(fashion_export):
    x_test, keras_top1 = fashion_export["x_test"][:300], fashion_export["keras_top1"][:300]
    rng = np.random.default_rng(1)
    photos = [product_photo(image, rng) for image in x_test]
    assert all(photo.shape[-1] == 3 and photo.mean() > 150 for photo in photos)  # dark on white
    for format in ("int8", "mobile_float32"):
        classifier = TFLiteClassifier(fashion_export["out"], format=format)
        # The mobile graph's look was measured at the model's 32x32 (a bare model knows no other size).
        originals = classifier.predict(x_test if format == "int8" else resize_images(x_test, (32, 32))).argmax(-1)
        np.testing.assert_array_equal(originals[:50], keras_top1[:50]) if format == "int8" else None
        from_photos = classifier.predict(photos).argmax(-1)
        assert np.mean(from_photos == originals) >= 0.85, format
        assert np.mean(originals == keras_top1) >= 0.98, format
    # Without the preparation the same photos are mostly wrong.
    unprepared = TFLiteClassifier(fashion_export["out"], format="int8", look=None)
    assert np.mean(unprepared.predict(photos).argmax(-1) == keras_top1) < 0.5
    notes = TFLiteClassifier(fashion_export["out"]).classify(photos[:5])
    assert all(prediction.notes == ("negated", "cut out") for prediction in notes)


def test_the_graph_prepares_photos_as_numpy_does(fashion_mnist_slice):
    (x_train, _), (x_test, _), _ = fashion_mnist_slice
    look = measure_dataset_look(x_train)
    rng = np.random.default_rng(2)
    for image_shape in ((28, 28, 1), (32, 32, 1), (28, 28, 3)):
        size = mobile_input_size(image_shape, look)
        photos = [resize_as_mediapipe(product_photo(image, rng)[None], size)[0] for image in x_test[:12]]
        upscaled = list(resize_as_mediapipe(x_test[12:18], size))  # What MediaPipe makes of a dataset image.
        images = np.stack(photos + upscaled)
        graph = np.asarray(PhotoPreparation(image_shape, look=look.to_dict())(images))
        reference = np.stack([prepare_photo(image, look, image_shape).pixels for image in images])
        # Equal up to a rounding tie: float sums in another order can land on the other side of .5.
        assert np.mean(np.abs(graph - reference) > 0.5) < 0.002, image_shape
        assert np.abs(graph - reference).max() <= 1.0, image_shape
    # A dataset image, and its upscaling by MediaPipe, come back exactly.
    for image in x_test[:20]:
        np.testing.assert_array_equal(prepare_photo(image, look, (28, 28, 1)).pixels, image)
        big = resize_as_mediapipe(image[None], (224, 224))[0]
        np.testing.assert_array_equal(prepare_photo(big, look, (28, 28, 1)).pixels, image)


def test_dataset_looks_are_measured_from_the_images(fashion_mnist_slice):
    (x_train, _), _, _ = fashion_mnist_slice
    look = measure_dataset_look(x_train)
    assert look.background == "dark" and look.background_level < 10 and look.object_fill > 0.95
    inverted = measure_dataset_look(255 - x_train)
    assert inverted.background == "light" and inverted.object_fill == pytest.approx(look.object_fill, abs=0.02)
    natural = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    assert measure_dataset_look(natural) is None  # No plain background: photos need no preparation.
    with pytest.raises(ValueError, match=r"dataset_look.background must be 'dark' or 'light'"):
        DatasetLook.from_dict({**look.to_dict(), "background": "grey"})


# ------------------------------------------------------------ honest confidence


def test_temperature_lowers_the_calibration_error_on_held_out_images(fashion_export):
    calibration = read_model_card(fashion_export["out"])["calibration"]
    assert calibration["ece_after"] < calibration["ece_before"]
    assert calibration["num_fitted"] + calibration["num_evaluated"] == 1000
    # Scores z ~ N(2 one_hot(label), 1) have the posterior softmax(2 z); a model answering softmax(4 z)
    # is over-confident, and the fitted temperature halves its logits back.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 4000)
    logits = rng.normal(size=(4000, 10)) + 2.0 * np.eye(10)[labels]
    honest = np.exp(2 * logits) / np.exp(2 * logits).sum(1, keepdims=True)
    confident = calibrate(honest, 0.5)
    fitted = fit_calibration((confident[:2000], labels[:2000], "fit"), (confident[2000:], labels[2000:], "test"))
    assert fitted.temperature == pytest.approx(2.0, rel=0.1)
    assert fitted.ece_after < fitted.ece_before / 2
    assert expected_calibration_error(honest[2000:], labels[2000:]) < 0.05


def test_min_confidence_answers_unsure(fashion_export, tmp_path):
    classifier = TFLiteClassifier(fashion_export["out"])
    images = fashion_export["x_test"][:10]
    assert all(p.unsure for p in classifier.classify(images, min_confidence=1.0))
    assert not any(p.unsure for p in classifier.classify(images, min_confidence=0.0))
    for bad in (-0.1, 1.5, "high"):
        with pytest.raises(ValueError, match="min_confidence must be a probability in"):
            classifier.classify(images, min_confidence=bad)
    from PIL import Image

    path = tmp_path / "shirt.png"
    Image.fromarray(images[0, ..., 0]).save(path)
    command = [sys.executable, "-m", "keras_cnns", "predict", str(fashion_export["out"]), str(path)]
    refused = subprocess.run([*command, "--min-confidence", "1.5"], capture_output=True, text=True)
    assert refused.returncode == 2 and "--min-confidence must be a probability in [0, 1]" in refused.stderr
    unsure = subprocess.run([*command, "--min-confidence", "1"], capture_output=True, text=True)
    assert unsure.returncode == 0 and "unsure (below 1)" in unsure.stdout


# ------------------------------------------------------------ refusals and the light path


def test_a_model_that_cannot_be_mobile_is_refused_before_anything_is_written(digits, tmp_path):
    bundle, x_train, _, x_test, y_test = digits
    logits = keras_cnns.get_model("lenet5", input_shape=bundle.image_shape, classes=10, classifier_activation=None)
    with pytest.raises(ValueError, match="last layer is a softmax"):
        export_model(logits, tmp_path / "logits", formats=("mobile_float32",), test_data=(x_test[:20], y_test[:20]))
    aux = keras_cnns.get_model("googlenet", input_shape=(96, 96, 1), classes=10, include_aux=True,
                               width_multiplier=0.125)
    with pytest.raises(ValueError, match="googlenet has 3 outputs"):
        export_model(aux, tmp_path / "aux", formats=("mobile_int8",), verify=False,
                     representative_data=np.zeros((4, 96, 96, 1), np.float32))
    assert not (tmp_path / "logits").exists() and not (tmp_path / "aux").exists()


def test_a_mobile_file_that_disagrees_with_keras_fails_the_export(digits, tmp_path, monkeypatch):
    from keras_cnns.export import mobile_runtime

    bundle, x_train, y_train, x_test, y_test = digits
    model = _fit("lenet5", bundle.image_shape, x_train, y_train, 3)
    original = mobile_runtime.run_mediapipe

    def shuffled(content, pixels, **kwargs):
        probabilities, labels = original(content, pixels, **kwargs)
        return np.roll(probabilities, 1, axis=1), labels

    monkeypatch.setattr(mobile_runtime, "run_mediapipe", shuffled)
    with pytest.raises(ExportVerificationError, match="mobile_float32: top-1 agreement"):
        export_model(model, tmp_path / "out", formats=("mobile_float32",), test_data=(x_test[:50], y_test[:50]),
                     normalization=bundle.normalization, measure_latency=False)
    assert not (tmp_path / "out").exists()


def test_the_mobile_files_of_a_model_share_one_preparation_and_one_network(digits, tmp_path, monkeypatch):
    from keras_cnns.export import tflite
    from keras_cnns.export.mobile import MobileParts, convert_mobile

    bundle, x_train, y_train, x_test, _ = digits
    model = _fit("lenet5", bundle.image_shape, x_train, y_train, 2)
    written, export_saved_model = [], tflite.export_saved_model
    monkeypatch.setattr(tflite, "export_saved_model", lambda m, path: written.append(path) or export_saved_model(m, path))
    parts = MobileParts(model, tmp_path, image_shape=bundle.image_shape, normalization=bundle.normalization)
    float_file = parts.convert("float32")
    int8_file = parts.convert("int8", calibration=x_train[:100])
    # One SavedModel for the preparation's only conversion, one for the network both quantizations convert.
    assert len(written) == 2 and os.listdir(tmp_path) == ["mobile_network"]
    alone = convert_mobile(model, "float32", image_shape=bundle.image_shape, normalization=bundle.normalization)
    pixels = np.clip(np.rint(x_test[:100] * bundle.normalization["std"][0] * 255
                             + bundle.normalization["mean"][0] * 255), 0, 255).astype(np.uint8)
    pixels = np.repeat(pixels, 3, axis=-1)
    shared, single = TFLiteRunner(float_file).run_raw(pixels), TFLiteRunner(alone).run_raw(pixels)
    np.testing.assert_allclose(shared, single, atol=1e-6)
    assert np.mean(shared.argmax(-1) == model.predict(x_test[:100], verbose=0).argmax(-1)) >= 0.98
    assert np.mean(TFLiteRunner(int8_file).run_raw(pixels).argmax(-1) == shared.argmax(-1)) >= 0.9
    # `run` takes the same pixels as floats: a uint8 input without quantization parameters is not divided by 0.
    np.testing.assert_allclose(TFLiteRunner(float_file).run(pixels.astype(np.float32)), shared, atol=1e-6)


def test_chained_graphs_compute_the_composition():
    from keras_cnns.export.tflite import convert_to_tflite

    keras.utils.set_random_seed(0)
    first_input = keras.Input((4, 4, 1), name="x")
    first = keras.Model(first_input, keras.layers.Conv2D(3, 1, name="a")(first_input))
    second_input = keras.Input((4, 4, 3), name="y")
    flat = keras.layers.Flatten()(second_input)
    second = keras.Model(second_input, keras.layers.Dense(2, activation="softmax", name="b")(flat))
    chained = chain_tflite(convert_to_tflite(first), convert_to_tflite(second))
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(TFLiteRunner(chained).run(x), second.predict(first.predict(x, verbose=0), verbose=0),
                               atol=1e-5)
    with pytest.raises(ValueError, match="cannot be chained"):
        chain_tflite(convert_to_tflite(second), convert_to_tflite(second))


def test_the_inference_path_imports_neither_tensorflow_nor_keras(fashion_export, tmp_path):
    from PIL import Image

    path = tmp_path / "boot.png"
    Image.fromarray(product_photo(fashion_export["x_test"][0], np.random.default_rng(0))).save(path)
    script = (
        "import sys\n"
        "from keras_cnns.cli import main\n"
        f"status = main(['predict', {str(fashion_export['out'])!r}, {str(path)!r}, '--top-k', '2'])\n"
        "from keras_cnns.inference import TFLiteClassifier\n"
        f"TFLiteClassifier({str(fashion_export['out'])!r}, format='mobile_int8').predict({str(path)!r})\n"
        "print('imported:', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules))\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "imported: []" in done.stdout
    assert str(path) in done.stdout and "[negated, cut out]" in done.stdout


def test_onnx_files_give_the_keras_outputs(digits, tmp_path):
    pytest.importorskip("onnxruntime", reason="the onnx extra (pip install 'keras-cnns[onnx]')")
    bundle, x_train, y_train, x_test, y_test = digits
    model = keras_cnns.get_model("resnet20", input_shape=bundle.image_shape, classes=10, width_multiplier=0.5)
    report = export_model(model, tmp_path / "onnx", formats=("onnx",), test_data=(x_test[:64], y_test[:64]),
                          normalization=bundle.normalization, measure_latency=False)
    assert report["onnx"].passed and report["onnx"].tolerance_ratio <= 1.0
    from keras_cnns.export.onnx import run_onnx

    np.testing.assert_allclose(run_onnx(str(tmp_path / "onnx" / "model.onnx"), x_test[:7]),
                               model.predict(x_test[:7], verbose=0), atol=1e-4, rtol=1e-4)
    assert json.loads((tmp_path / "onnx" / "model_card.json").read_text())["formats"]["onnx"]["opset"] > 0

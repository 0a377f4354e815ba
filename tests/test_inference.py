"""TFLiteClassifier: any image in, the exported model's probabilities out; clear errors for bad input."""

import json
import shutil
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

import keras_cnns
from keras_cnns.data import denormalize, load_dataset
from keras_cnns.export import export_model
from keras_cnns.export.source import take_examples
from keras_cnns.inference import TFLiteClassifier, TFLiteRunner, read_model_card
from keras_cnns.inference.calibration import calibrate


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """LeNet-5 fitted on digits, exported as float32 and int8, with the raw test pixels."""
    bundle = load_dataset("digits", augment=None, batch_size=256)
    x_train, y_train = take_examples(bundle.train)
    x_test, y_test = take_examples(bundle.test)
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model("lenet5", input_shape=bundle.image_shape, classes=10, activation="relu",
                                 batch_norm=True, downsampling="max_pool")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=6, batch_size=64, verbose=0)
    out = tmp_path_factory.mktemp("inference") / "lenet5_digits"
    export_model(model, out, formats=("float32", "int8"), representative_data=x_train[:100],
                 test_data=(x_test, y_test), labels=bundle.class_names, normalization=bundle.normalization,
                 measure_latency=False)
    pixels = np.clip(np.rint(denormalize(x_test, bundle.normalization)), 0, 255).astype(np.uint8)
    return dict(model=model, out=out, pixels=pixels, x_test=x_test, y_test=y_test, bundle=bundle)


def test_float32_classifier_gives_the_keras_probabilities(exported):
    raw = TFLiteClassifier(exported["out"], format="float32", temperature=1.0)
    expected = exported["model"].predict(exported["x_test"], verbose=0)
    np.testing.assert_allclose(raw.predict(exported["pixels"]), expected, atol=1e-4, rtol=1e-4)
    # By default the card's temperature calibrates them: the same classes, other confidences.
    calibrated = TFLiteClassifier(exported["out"], format="float32")
    temperature = read_model_card(exported["out"])["calibration"]["temperature"]
    assert calibrated.temperature == temperature != 1.0
    np.testing.assert_allclose(calibrated.predict(exported["pixels"]), calibrate(expected, temperature),
                               atol=1e-4, rtol=1e-4)


def test_int8_classifier_is_the_default_and_agrees(exported):
    classifier = TFLiteClassifier(exported["out"])
    assert classifier.format == "int8" and classifier.runner.is_quantized
    probabilities = classifier.predict(exported["pixels"])
    assert probabilities.shape == (len(exported["pixels"]), 10)
    assert probabilities.min() >= 0 and probabilities.max() <= 1
    expected = exported["model"].predict(exported["x_test"], verbose=0)
    assert np.mean(probabilities.argmax(-1) == expected.argmax(-1)) >= 0.9


def test_batches_of_any_size_give_the_single_image_answers(exported):
    classifier = TFLiteClassifier(exported["out"], format="float32")
    images = exported["pixels"][:7]
    together = classifier.predict(images, batch_size=7)
    one_by_one = np.concatenate([classifier.predict(image) for image in images])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    np.testing.assert_allclose(classifier.predict(images, batch_size=3), together, atol=1e-6)


def test_files_pil_images_and_arrays_of_any_size(exported, tmp_path):
    classifier = TFLiteClassifier(exported["out"], format="float32")
    digit = exported["pixels"][0, ..., 0]
    exact_png = tmp_path / "exact.png"
    Image.fromarray(digit).save(exact_png)
    # At the model's size and channels a lossless file and its array give the same input.
    np.testing.assert_allclose(classifier.predict(str(exact_png)), classifier.predict(digit), atol=1e-6)
    large_colour = Image.fromarray(np.repeat(digit[..., None], 3, -1)).resize((100, 60))
    jpeg = tmp_path / "large.jpg"
    large_colour.save(jpeg)
    rgba = large_colour.convert("RGBA")
    from_file, from_pil = classifier.predict(jpeg), classifier.predict(Image.open(jpeg))
    np.testing.assert_allclose(from_file, from_pil, atol=1e-6)
    mixed = classifier.predict([str(exact_png), rgba, digit, np.asarray(large_colour, np.float32)])
    assert mixed.shape == (4, 10)
    np.testing.assert_allclose(mixed[0], mixed[2], atol=1e-6)
    # (N, H, W) is a batch of grayscale images; (H, W, 3) one colour image.
    assert classifier.predict(exported["pixels"][:5, ..., 0]).shape == (5, 10)
    assert classifier.predict(np.asarray(large_colour)).shape == (1, 10)


def test_a_16_bit_png_reads_as_its_8_bit_levels(exported, tmp_path):
    classifier = TFLiteClassifier(exported["out"], format="float32")
    digit = exported["pixels"][0, ..., 0]
    deep = tmp_path / "deep.png"
    Image.fromarray(digit.astype(np.uint16) * 257).save(deep)  # 255 -> 65535
    assert Image.open(deep).mode.startswith("I;16")
    np.testing.assert_allclose(classifier.predict(deep), classifier.predict(digit), atol=1e-6)


def test_top_k_names_the_most_probable_classes(exported):
    classifier = TFLiteClassifier(exported["out"], format="float32")
    top = classifier.top_k(exported["pixels"][:3], k=3)
    probabilities = classifier.predict(exported["pixels"][:3])
    for row, ranked in zip(probabilities, top):
        assert [label for label, _ in ranked] == [classifier.class_names[i] for i in np.argsort(-row)[:3]]
        assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert len(classifier.top_k(exported["pixels"][0], k=50)[0]) == 10
    with pytest.raises(ValueError, match="k must be a positive int"):
        classifier.top_k(exported["pixels"][0], k=0)


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((2, 1, 32, 32, 1)), ValueError, r"shape \(2, 1, 32, 32, 1\) \(rank 5\)"),
    (np.zeros((2, 32, 32, 2)), ValueError, r"shape \(2, 32, 32, 2\).*1, 3 or 4 channels"),
    (np.full((32, 32), np.nan), ValueError, r"shape \(32, 32\)\) holds 1024 NaN"),
    (np.full((32, 32), 300.0), ValueError, r"outside the pixel range"),
    (np.full((32, 32), -0.5), ValueError, r"already normalized"),
    (np.zeros((32, 32), dtype=bool), ValueError, r"dtype bool"),
    (np.zeros((0, 32, 32, 1)), ValueError, r"empty batch"),
    ([], ValueError, r"empty list"),
    (["missing.png"], FileNotFoundError, r"No image file at missing.png"),
])
def test_bad_input_gets_a_clear_error(exported, images, error, message):
    classifier = TFLiteClassifier(exported["out"])
    with pytest.raises(error, match=message):
        classifier.predict(images)


def test_pixels_scaled_to_0_1_get_a_warning(exported):
    classifier = TFLiteClassifier(exported["out"], format="float32")
    scaled = np.full((2, 32, 32, 1), 0.25)
    scaled[0, 0, 0, 0] = 1.0
    with pytest.warns(UserWarning, match=r"shape \(2, 32, 32, 1\)\) holds floats in \[0.25, 1\].*multiply them by 255"):
        classifier.predict(scaled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        classifier.predict(exported["pixels"][:2].astype(np.float32))  # [0, 255] floats: no warning
        classifier.predict(np.zeros((32, 32)))  # an all-black image: no warning


def test_a_file_that_is_not_an_image_is_named(exported, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match=r"notes.png is not an image file"):
        TFLiteClassifier(exported["out"]).predict([str(text)])
    with pytest.raises(ValueError, match=r"is a folder, not an image file"):
        TFLiteClassifier(exported["out"]).predict(tmp_path)


def test_without_a_card_normalization_must_be_given(exported, tmp_path):
    lone = tmp_path / "lone.tflite"
    shutil.copy(exported["out"] / "model_float32.tflite", lone)
    with pytest.raises(ValueError, match="normalization is unknown"):
        TFLiteClassifier(lone)
    classifier = TFLiteClassifier(lone, normalization=exported["bundle"].normalization)
    assert classifier.class_names == [str(i) for i in range(10)]
    with_card = TFLiteClassifier(exported["out"], format="float32", temperature=1.0)
    np.testing.assert_allclose(classifier.predict(exported["pixels"][:4]),
                               with_card.predict(exported["pixels"][:4]), atol=1e-6)


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_outputs_are_read_by_the_activation_the_card_names(exported, tmp_path, activation):
    copy = shutil.copytree(exported["out"], tmp_path / activation)
    card = json.loads((copy / "model_card.json").read_text())
    card["output"]["activation"] = activation
    (copy / "model_card.json").write_text(json.dumps(card))
    classifier = TFLiteClassifier(copy, format="float32")
    raw = classifier.runner.run(classifier.preprocess(exported["pixels"][:5]))
    probabilities = classifier.predict(exported["pixels"][:5])
    if activation == "sigmoid":  # Per-class probabilities: passed through, not renormalized.
        np.testing.assert_allclose(probabilities, raw, atol=1e-7)
    else:  # Logits: softmax.
        expected = np.exp(raw) / np.exp(raw).sum(axis=-1, keepdims=True)
        np.testing.assert_allclose(probabilities, expected, rtol=1e-5)


def test_folder_formats_and_changed_files_are_checked(exported, tmp_path):
    with pytest.raises(ValueError, match=r"no TFLite file of format 'float16'.*\['float32', 'int8'\]"):
        TFLiteClassifier(exported["out"], format="float16")
    copy = tmp_path / "copy"
    shutil.copytree(exported["out"], copy)
    content = bytearray((copy / "model_int8.tflite").read_bytes())
    content[len(content) // 2] ^= 0x01
    (copy / "model_int8.tflite").write_bytes(bytes(content))
    with pytest.raises(ValueError, match="SHA-256"):
        TFLiteClassifier(copy)
    with pytest.raises(FileNotFoundError, match="without model_card.json"):
        TFLiteClassifier(tmp_path)


def test_runner_refuses_wrong_shapes_and_non_models(exported, tmp_path):
    runner = TFLiteRunner(exported["out"] / "model_float32.tflite")
    with pytest.raises(ValueError, match=r"takes images of shape \(N, 32, 32, 1\); received .* \(3, 28, 28, 1\)"):
        runner.run(np.zeros((3, 28, 28, 1), np.float32))
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(ValueError, match="could not be loaded as a TFLite model"):
        TFLiteRunner(bogus)

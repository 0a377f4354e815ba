"""The models shipped in saved_models/: files match their card, and reach its accuracy on the real test set.

Runs over whatever export folders `saved_models/` holds (each with a
`model_card.json`), so a newly shipped model is checked without a new test.
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_cnns.data import normalize, sources
from keras_cnns.data.preprocessing import convert_channels, resize_images
from keras_cnns.inference import TFLiteClassifier, read_model_card, sha256_file

SAVED_MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
SHIPPED = sorted(
    name for name in (os.listdir(SAVED_MODELS) if os.path.isdir(SAVED_MODELS) else [])
    if os.path.isfile(os.path.join(SAVED_MODELS, name, "model_card.json"))
)
# Another CPU may round a few float sums differently: allow 0.1 point (10 of 10,000 images).
ACCURACY_TOLERANCE = 0.001
needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isdir(sources.DEBIAN_FASHION_MNIST_DIR),
    reason=f"real Fashion-MNIST not installed at {sources.DEBIAN_FASHION_MNIST_DIR} "
    "(Debian package dataset-fashion-mnist)",
)
shipped = pytest.mark.parametrize("name", SHIPPED or [pytest.param(None, marks=pytest.mark.skip(
    reason="saved_models/ holds no exported model yet"))])


@pytest.fixture(scope="module")
def fashion_mnist_test():
    return sources.load_fashion_mnist().test


@shipped
def test_shipped_files_match_their_card(name):
    folder = os.path.join(SAVED_MODELS, name)
    card = read_model_card(folder)
    files = {os.path.relpath(os.path.join(root, file), folder).replace(os.sep, "/")
             for root, _, names in os.walk(folder) for file in names}
    assert files - {"model_card.json"} == set(card["sha256"]), "files not listed in the card (or missing)"
    for relative, digest in card["sha256"].items():
        assert sha256_file(os.path.join(folder, relative)) == digest, relative
    assert {"saved_model", "float32", "int8", "mobile_float32", "mobile_int8"} <= set(card["formats"])
    assert all(entry["verified"] for entry in card["formats"].values())
    assert card["calibration"]["ece_after"] < card["calibration"]["ece_before"]


@needs_fashion_mnist
@shipped
def test_shipped_models_reach_their_card_accuracy(name, fashion_mnist_test):
    folder = os.path.join(SAVED_MODELS, name)
    card = read_model_card(folder)
    assert card["dataset"]["name"] == "fashion_mnist"
    pixels, labels = fashion_mnist_test
    for format in ("float32", "int8"):
        classifier = TFLiteClassifier(folder, format=format)
        accuracy = np.mean(classifier.predict(pixels, batch_size=500).argmax(-1) == labels)
        assert accuracy == pytest.approx(card["formats"][format]["accuracy"], abs=ACCURACY_TOLERANCE), format
    # The SavedModel, with plain TensorFlow and the card's preprocessing.
    height, width, channels = card["input"]["shape"]
    images = resize_images(convert_channels(pixels, channels), (height, width)).astype(np.float32)
    if card["input"]["normalization"] and not card["input"]["normalization_folded"]:
        images = normalize(images, card["input"]["normalization"])
    serve = tf.saved_model.load(os.path.join(folder, "saved_model")).signatures["serving_default"]
    predictions = np.concatenate([
        next(iter(serve(tf.constant(images[start:start + 1000])).values())).numpy().argmax(-1)
        for start in range(0, len(images), 1000)
    ])
    assert np.mean(predictions == labels) == pytest.approx(card["formats"]["saved_model"]["accuracy"],
                                                           abs=ACCURACY_TOLERANCE)


@needs_fashion_mnist
@shipped
def test_shipped_mobile_files_run_in_mediapipe_as_their_float32_file(name, fashion_mnist_test):
    mobile_runtime = pytest.importorskip("keras_cnns.export.mobile_runtime")
    if not mobile_runtime.mediapipe_available():
        pytest.skip("MediaPipe not installed (pip install 'keras-cnns[mobile]')")
    folder = os.path.join(SAVED_MODELS, name)
    card = read_model_card(folder)
    pixels = fashion_mnist_test[0][:2000]
    float32 = TFLiteClassifier(folder, format="float32").predict(pixels, batch_size=500).argmax(-1)
    for format in ("mobile_float32", "mobile_int8"):
        with open(os.path.join(folder, card["formats"][format]["file"]), "rb") as file:
            probabilities, class_names = mobile_runtime.run_mediapipe(file.read(), pixels)
        assert class_names == card["class_names"], format
        agreement = np.mean(probabilities.argmax(-1) == float32)
        assert agreement >= (0.995 if format == "mobile_float32" else 0.98), (format, agreement)

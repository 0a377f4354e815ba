"""Shared test settings and fixtures."""

import gzip
import os
import struct
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras_cnns  # noqa: E402,F401  (before Keras, as a user's program would: TensorFlow's oneDNN kernels)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


# Module fixtures that train or export for tens of seconds. A module fixture is built once per xdist worker
# that runs a test using it, so the tests that use one run on one worker (`--dist loadgroup` in
# tests/run.sh): each of these was built two or three times in one CI run (20 to 60 s each time).
# pytest 9.2 silently stopped loadgroup's grouping (pytest-dev/pytest-xdist#1386): setup.cfg keeps 9.1.
SHARED_FIXTURES = ("exported", "fashion_export", "places", "pretrained", "random_search", "trained_lenet")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Puts the tests of a module that use one of `SHARED_FIXTURES` in one xdist group (before xdist
    reads the groups)."""
    for item in items:
        used = sorted(set(SHARED_FIXTURES) & set(getattr(item, "fixturenames", ())))
        if used:
            item.add_marker(pytest.mark.xdist_group(f"{item.module.__name__}.{used[0]}"))


def pytest_collection_finish(session):
    """On an xdist worker: says so when `--dist loadgroup` did not group (the tests still pass, slower)."""
    if getattr(session.config.option, "loadgroup", False) and any(
            item.get_closest_marker("xdist_group") and "@" not in item.nodeid for item in session.items):
        warnings.warn(pytest.PytestWarning(
            "pytest-xdist's --dist loadgroup did not group the tests of SHARED_FIXTURES (tests/conftest.py), so "
            "their fixtures are built once per worker. pytest 9.2 does this (pytest-dev/pytest-xdist#1386): "
            "pip install 'pytest<9.2'."))


def idx_bytes(type_code, shape, data):
    """An IDX file's bytes: the header (type code, dimensions, big-endian sizes) and the data."""
    header = bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + data


def write_fashion_mnist(folder, train, test):
    """Writes `(images, labels)` pairs as the four gzipped IDX files of Fashion-MNIST into `folder`."""
    from keras_cnns.data.sources import FASHION_MNIST_FILES

    os.makedirs(folder, exist_ok=True)
    for split, (images, labels) in (("train", train), ("test", test)):
        images = np.asarray(images, np.uint8).reshape(len(images), 28, 28)
        for key, array in ((f"{split}_images", images), (f"{split}_labels", np.asarray(labels, np.uint8))):
            with open(os.path.join(folder, FASHION_MNIST_FILES[key] + ".gz"), "wb") as file:
                file.write(gzip.compress(idx_bytes(0x08, array.shape, array.tobytes()), compresslevel=1))
    return folder


@pytest.fixture(scope="session")
def fashion_mnist_slice():
    """The real Fashion-MNIST (Debian's files): 6,000 training and 1,000 test images, uint8 `(N, 28, 28, 1)`.

    Skips the test when the files are not installed (Debian package
    dataset-fashion-mnist; tests/run.sh installs it where apt is available).
    """
    if not os.path.isdir(FASHION_MNIST_DIR):
        pytest.skip(f"real Fashion-MNIST not installed at {FASHION_MNIST_DIR} (Debian package dataset-fashion-mnist)")
    from keras_cnns.data import sources

    data = sources.load_fashion_mnist()
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    rng = np.random.default_rng(0)
    train = np.sort(rng.choice(len(x_train), 6000, replace=False))
    test = np.sort(rng.choice(len(x_test), 1000, replace=False))
    return (x_train[train], y_train[train]), (x_test[test], y_test[test]), list(data.class_names)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's digits (no download) as pipelines at 32x32, unaugmented, seed 0."""
    from keras_cnns.data import load_dataset

    return load_dataset("digits", augment=None, batch_size=256, seed=0)


@pytest.fixture(scope="module")
def digits_arrays(digits):
    """`(bundle, x_train, y_train, x_test, y_test)` of `digits`, images normalized as the model takes them."""
    from keras_cnns.export.source import take_examples

    return (digits, *take_examples(digits.train), *take_examples(digits.test))


def free_port():
    """A TCP port on this machine that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args, timeout=300):
    """`python -m keras_cnns ARGS` in a fresh process; returns the `CompletedProcess`."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "keras_cnns", *[str(arg) for arg in args]], capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=timeout)


def run_main(capsys, *args):
    """`keras-cnns ARGS` in this process (the parser, the command and its error handling).

    Returns:
        `(exit status, stdout, stderr)`.
    """
    from keras_cnns.cli import main

    capsys.readouterr()
    status = main([str(arg) for arg in args])
    output = capsys.readouterr()
    return status, output.out, output.err


@pytest.fixture
def cached_vgg16_weights(tmp_path, monkeypatch):
    """keras.applications' VGG16 with random weights, stored in an empty Keras cache as its published
    "notop" file (legacy HDF5, the table's MD5 updated); downloads refused. Returns the reference model."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    from keras_cnns.models import weights as weights_lib

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("must not download"))
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    reference.set_weights([np.random.default_rng(i).normal(size=w.shape).astype("float32") * 0.05
                           for i, w in enumerate(reference.get_weights())])
    relative, _ = weights_lib.IMAGENET_FILES["vgg16"][1]
    cached = tmp_path / "models" / relative.split("/")[-1]
    cached.parent.mkdir()
    with h5py.File(cached, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, reference)
    monkeypatch.setitem(weights_lib.IMAGENET_FILES, "vgg16",
                        (weights_lib.IMAGENET_FILES["vgg16"][0], (relative, weights_lib._md5(cached))))
    return reference

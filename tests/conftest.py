"""Shared test settings and fixtures."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


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

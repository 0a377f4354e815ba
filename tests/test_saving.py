"""Every .keras file the package writes loads in a fresh process: after `import keras_cnns` alone, or
with `keras.saving.load_model` after importing only `keras_cnns.saving`. And importing the package is cheap."""

import os
import subprocess
import sys

import numpy as np
import pytest

import keras_cnns
from keras_cnns.train import default_config
from keras_cnns.train.trainer import compile_model

# Marked zoo (run on JAX and PyTorch too): loading in a fresh process on that backend, and the light import.


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A CIFAR ResNet (its ZeroPadShortcut layers) compiled with this package's schedule and loss, saved."""
    model = keras_cnns.get_model("resnet20", input_shape=(16, 16, 1), classes=4, width_multiplier=0.25)
    config = default_config("resnet20", "digits", label_smoothing=0.1, out_dir=str(tmp_path_factory.mktemp("run")))
    compile_model(model, config, steps_per_epoch=10)
    x = np.random.default_rng(0).normal(size=(8, 16, 16, 1)).astype("float32")
    model.fit(x, np.arange(8) % 4, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model.save(path)
    np.save(path.with_suffix(".npy"), x)
    return path, model.predict(x, verbose=0)


@pytest.mark.zoo
@pytest.mark.parametrize("imports", ["import keras_cnns", "import keras_cnns.saving"])
def test_a_saved_model_loads_in_a_fresh_process(saved, imports):
    path, expected = saved
    done = _python(
        f"{imports}\nimport keras, numpy as np\n"
        f"model = keras.saving.load_model({str(path)!r})\n"
        f"np.save({str(path.with_suffix('.out.npy'))!r}, model.predict(np.load({str(path.with_suffix('.npy'))!r}), verbose=0))\n"
        "print(type(model.loss).__name__, type(model.optimizer._learning_rate).__name__)\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SparseCategoricalCrossentropyWithSmoothing WarmupCosineDecay" in done.stdout
    np.testing.assert_allclose(np.load(path.with_suffix(".out.npy")), expected, atol=1e-5)


def test_without_the_package_keras_cannot_read_its_layers(saved):
    path, _ = saved
    done = _python(f"import keras\nkeras.saving.load_model({str(path)!r})\n")
    assert done.returncode != 0 and "ZeroPadShortcut" in done.stderr


@pytest.mark.zoo
def test_importing_the_package_loads_neither_keras_nor_tensorflow():
    done = _python("import sys, keras_cnns, keras_cnns.inference, keras_cnns.cli\n"
                   "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_commands_print_no_library_log_lines(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    for args in (["--help"], ["models", "lenet5"], ["summary", "lenet5"]):
        done = subprocess.run([sys.executable, "-m", "keras_cnns", *args], capture_output=True, text=True,
                              timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stderr.strip() == "", (args, done.stderr[-2000:])

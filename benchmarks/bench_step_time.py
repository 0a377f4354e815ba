"""Time per training image of one network under settings that change only
speed, alternating rounds in one process (a ratio measured this way survives
this machine's drifting step times; see BENCHMARKS.md).

    .venv/bin/python benchmarks/bench_step_time.py pool_padding
    .venv/bin/python benchmarks/bench_step_time.py batch_size
    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_step_time.py batch_size
    .venv/bin/python benchmarks/bench_step_time.py precision
    .venv/bin/python benchmarks/bench_step_time.py onednn

* `pool_padding`: the main job's quarter-width VGG-11 at 32x32 ("valid"
  pooling) against 28x28 (`pool_padding="same"`), batch 256.
* `batch_size`: the longer recipe's ResNet-20 at 28x28, batch 128 against
  batch 256, and batch 256 under `mixed_bfloat16`.
* `precision`: the main job's network (`fashion_mnist_quick`) and
  `fashion_mnist_wide`'s at batch 256, each in float32 against
  `mixed_bfloat16` (what `mixed_precision="auto"` picks on a CPU with
  bfloat16 instructions).
* `onednn`: the main job's network in float32 with TensorFlow's oneDNN
  kernels off and on (`keras_cnns._onednn`), one process per setting and
  round, in turn.

Synthetic images, SGD with Nesterov momentum, `train_on_batch` after three
warm-up steps. Prints each round's microseconds per image and the medians;
BENCHMARKS.md cites the runs.
"""

import os
import re
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_cnns  # noqa: E402,F401  (before Keras: it asks TensorFlow for its oneDNN kernels)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_cnns.registry import get_model  # noqa: E402

ROUNDS = 6
STEPS_PER_ROUND = 10
VGG_KNOBS = dict(classes=10, width_multiplier=0.25, hidden_units=[], dropout=0.0)


def candidates(comparison):
    """`{label: (build, batch_size, dtype_policy)}` of one comparison."""
    if comparison == "pool_padding":
        return {
            "32x32, pool_padding='valid'": (
                lambda: get_model("vgg11_bn", input_shape=(32, 32, 1), **VGG_KNOBS), 256, "float32"),
            "28x28, pool_padding='same'": (
                lambda: get_model("vgg11_bn", input_shape=(28, 28, 1), pool_padding="same", **VGG_KNOBS),
                256, "float32"),
        }
    if comparison == "batch_size":
        def resnet20():
            return get_model("resnet20", input_shape=(28, 28, 1), classes=10)
        return {
            "resnet20, batch 128": (resnet20, 128, "float32"),
            "resnet20, batch 256": (resnet20, 256, "float32"),
            "resnet20, batch 256, mixed_bfloat16": (resnet20, 256, "mixed_bfloat16"),
        }
    if comparison == "precision":  # The main job's network (fashion_mnist_quick) in both precisions.
        return {
            "quick network, batch 256, float32": (quick_network, 256, "float32"),
            "quick network, batch 256, mixed_bfloat16": (quick_network, 256, "mixed_bfloat16"),
            "wide network, batch 256, float32": (wide_network, 256, "float32"),
            "wide network, batch 256, mixed_bfloat16": (wide_network, 256, "mixed_bfloat16"),
        }
    if comparison == "quick":  # One setting: what `onednn` runs in each of its processes.
        return {"quick network, batch 256, float32": (quick_network, 256, "float32")}
    raise SystemExit(f"Unknown comparison {comparison!r}; choose pool_padding, batch_size, precision or onednn.")


def quick_network():
    """The main job's network (`fashion_mnist_quick`)."""
    return get_model("vgg11_bn", input_shape=(28, 28, 1), pool_padding="same", **VGG_KNOBS)


def wide_network():
    """`fashion_mnist_wide`'s network: the main job's at half width (4x the multiply-accumulates)."""
    return get_model("vgg11_bn", input_shape=(28, 28, 1), pool_padding="same",
                     **{**VGG_KNOBS, "width_multiplier": 0.5})


def compare_onednn(rounds=3):
    """The main job's network with TensorFlow's oneDNN kernels off and on, a process each.

    TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once, when it is imported, so
    each round starts one process per setting, in turn, and takes the median
    of that process's own rounds (`quick`).
    """
    settings = {"oneDNN off (TF_ENABLE_ONEDNN_OPTS=0)": "0", "oneDNN on (TF_ENABLE_ONEDNN_OPTS=1)": "1"}
    times = {label: [] for label in settings}
    for _ in range(rounds):
        for label, value in settings.items():
            child = subprocess.run([sys.executable, __file__, "quick"], capture_output=True, text=True, check=True,
                                   env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": value})
            times[label].append(float(re.search(r"median ([\d.]+)", child.stdout).group(1)))
    print("onednn on the tensorflow backend, microseconds per image (the median of each process):")
    for label, values in times.items():
        rounds_text = " ".join(f"{value:.0f}" for value in values)
        print(f"{label}: {rounds_text} -> median {np.median(values):.1f}")


def main(argv):
    comparison = argv[0] if argv else "pool_padding"
    if comparison == "onednn":
        compare_onednn()
        return
    rng = np.random.default_rng(0)
    prepared = {}
    for name, (build, batch_size, policy) in candidates(comparison).items():
        keras.mixed_precision.set_global_policy(policy)
        model = build()
        keras.mixed_precision.set_global_policy("float32")
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                      loss="sparse_categorical_crossentropy")
        images = rng.random((batch_size, *model.input_shape[1:]), dtype=np.float32)
        labels = rng.integers(0, 10, batch_size)
        for _ in range(3):  # Tracing and warm-up.
            model.train_on_batch(images, labels)
        prepared[name] = model, images, labels
    times = {name: [] for name in prepared}
    for _ in range(ROUNDS):
        for name, (model, images, labels) in prepared.items():
            start = time.perf_counter()
            for _ in range(STEPS_PER_ROUND):
                model.train_on_batch(images, labels)
            seconds = (time.perf_counter() - start) / STEPS_PER_ROUND
            times[name].append(seconds / len(images) * 1e6)
    print(f"{comparison} on the {keras.backend.backend()} backend, microseconds per image:")
    for name, values in times.items():
        rounds = " ".join(f"{value:.0f}" for value in values)
        print(f"{name}: {rounds} -> median {np.median(values):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Time per training step of the main job's network at 32x32 ("valid" pooling)
against 28x28 (pool_padding="same"), alternating rounds in one process.

    .venv/bin/python benchmarks/bench_pool_padding.py

Prints each round's milliseconds per step (batch 256, synthetic images) and
the medians; BENCHMARKS.md ("The main job") cites one run.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_cnns.registry import get_model  # noqa: E402

BATCH = 256
ROUNDS = 6
STEPS_PER_ROUND = 10
KNOBS = dict(classes=10, width_multiplier=0.25, hidden_units=[], dropout=0.0)


def main():
    candidates = {
        "32x32, pool_padding='valid'": get_model("vgg11_bn", input_shape=(32, 32, 1), **KNOBS),
        "28x28, pool_padding='same'": get_model("vgg11_bn", input_shape=(28, 28, 1),
                                                pool_padding="same", **KNOBS),
    }
    rng = np.random.default_rng(0)
    batches = {}
    for name, model in candidates.items():
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                      loss="sparse_categorical_crossentropy")
        images = rng.random((BATCH, *model.input_shape[1:]), dtype=np.float32)
        labels = rng.integers(0, 10, BATCH)
        batches[name] = images, labels
        for _ in range(3):  # Tracing and warm-up.
            model.train_on_batch(images, labels)
    times = {name: [] for name in candidates}
    for _ in range(ROUNDS):
        for name, model in candidates.items():
            start = time.perf_counter()
            for _ in range(STEPS_PER_ROUND):
                model.train_on_batch(*batches[name])
            times[name].append((time.perf_counter() - start) / STEPS_PER_ROUND * 1000)
    for name, values in times.items():
        rounds = " ".join(f"{value:.0f}" for value in values)
        print(f"{name}: {rounds} -> median {np.median(values):.1f} ms per step")


if __name__ == "__main__":
    main()

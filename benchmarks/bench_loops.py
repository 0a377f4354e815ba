"""Three inner loops, each timed both ways in alternating rounds in one process.

* Gradient ascent (`keras-cnns visualize --kind filters`): 40 steps on 16
  filters of ResNet-20 at 28x28 (`conv4_block3_out`), with the forward and
  backward pass traced once (`input_gradient_function`, the default) against
  running op by op at every step (as before 2026-12-03).
* Evaluation at a small training batch: ResNet-20 at half width predicting
  Fashion-MNIST's 10,000 test images batched by 16, as `predict_with_labels`
  does now (batches gathered up to `INFERENCE_BATCH_VALUES`, the last one
  padded) against each batch of 16 run alone (as before 2026-12-03).
* The per-epoch backup of a run: ResNet-56 (28x28, SGD with momentum)
  written 10 times by `keras_cnns.train.backup.save` (an `.npz` of its
  variables, in order) against `model.save_weights` (as before 2026-12-03).

The networks are untrained: no loop's time depends on the weights. An
untimed first round traces every network and batch shape both sides use.

    .venv/bin/python benchmarks/bench_loops.py

Results: `benchmarks/results/loops.json`.
"""

import argparse
import contextlib
import functools
import os
import shutil
import statistics
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402  (benchmarks/common.py)
import keras  # noqa: E402

import keras_cnns  # noqa: E402
from keras_cnns.data import load_dataset  # noqa: E402
from keras_cnns.inspect import features, gradients  # noqa: E402
from keras_cnns.train import backup, metrics  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402


@contextlib.contextmanager
def patched(module, name, value):
    """Sets `module.name` to `value` inside the block, and back afterwards."""
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def timed(call, *args):
    """Seconds that `call(*args)` takes."""
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def ascent_seconds(model, layer, compiled):
    """One `filter_patterns` call (16 filters, 40 steps), compiled or op by op."""
    gradient = functools.partial(gradients.input_gradient_function, compiled=compiled)
    with patched(features, "input_gradient_function", gradient):
        return timed(features.filter_patterns, model, layer)


def evaluation_seconds(model, dataset, gathered):
    """One `predict_with_labels` pass over `dataset`: its batches gathered for inference, or each run alone."""
    # At 0 every batch is "large enough" and runs as it comes.
    values = metrics.INFERENCE_BATCH_VALUES if gathered else 0
    with patched(metrics, "INFERENCE_BATCH_VALUES", values):
        return timed(metrics.predict_with_labels, model, dataset)


def backup_seconds(model, folder, npz, saves=10):
    """`saves` backups of `model` and its optimizer: `backup.save` (`.npz`) or `model.save_weights` (`.h5`)."""
    def save_all():
        for _ in range(saves):
            if npz:
                backup.save(model, os.path.join(folder, "epoch_0001.variables.npz"))
            else:
                model.save_weights(os.path.join(folder, "epoch_0001.weights.h5"))
    return timed(save_all)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each pair")
    parser.add_argument("--results", default="loops", help="results/NAME.json")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; received {args.rounds}")

    resnet = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1), classes=10)
    half = keras_cnns.get_model("resnet20", input_shape=(28, 28, 1), classes=10, width_multiplier=0.5)
    bundle = load_dataset("fashion_mnist", augment=None, batch_size=16, validation_split=0)
    resnet56 = keras_cnns.get_model("resnet56", input_shape=(28, 28, 1), classes=10)
    resnet56.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
    resnet56.optimizer.build(resnet56.trainable_variables)
    folder = tempfile.mkdtemp(prefix="bench_loops-")
    rounds = {"ascent_compiled": [], "ascent_op_by_op": [], "evaluation_gathered": [], "evaluation_batch_16": [],
              "backup_npz": [], "backup_save_weights": []}
    for index in range(args.rounds + 1):
        # Each side once per round, in turn, so that a change of the machine's speed falls on both. Round 0
        # traces every network and batch shape; it is not counted.
        times = {
            "ascent_compiled": ascent_seconds(resnet, "conv4_block3_out", compiled=True),
            "ascent_op_by_op": ascent_seconds(resnet, "conv4_block3_out", compiled=False),
            "evaluation_gathered": evaluation_seconds(half, bundle.test, gathered=True),
            "evaluation_batch_16": evaluation_seconds(half, bundle.test, gathered=False),
            "backup_npz": backup_seconds(resnet56, folder, npz=True),
            "backup_save_weights": backup_seconds(resnet56, folder, npz=False),
        }
        print(f"round {index}{' (warm-up)' if index == 0 else ''}: "
              + ", ".join(f"{key} {seconds:.2f} s" for key, seconds in times.items()), flush=True)
        if index > 0:
            for key, seconds in times.items():
                rounds[key].append(seconds)
    medians = {key: statistics.median(values) for key, values in rounds.items()}
    results = {
        **common.run_facts(),
        "ascent": "resnet20 28x28x1, conv4_block3_out, 16 filters, 40 steps",
        "evaluation": f"resnet20 width 0.5, {bundle.num_test} Fashion-MNIST test images, training batch 16",
        "backup": "resnet56 28x28x1 with SGD momentum, 10 saves",
        "backend": keras.backend.backend(),
        "seconds": rounds,
        "medians_s": medians,
        "ascent_speedup": medians["ascent_op_by_op"] / medians["ascent_compiled"],
        "evaluation_speedup": medians["evaluation_batch_16"] / medians["evaluation_gathered"],
        "backup_speedup": medians["backup_save_weights"] / medians["backup_npz"],
    }
    write_json(os.path.join(common.RESULTS_DIR, f"{args.results}.json"), results)
    print(f"medians: {', '.join(f'{key} {value:.2f} s' for key, value in medians.items())}")
    shutil.rmtree(folder)
    print(f"ascent {results['ascent_speedup']:.1f}x, evaluation {results['evaluation_speedup']:.1f}x, "
          f"backup {results['backup_speedup']:.1f}x faster")


if __name__ == "__main__":
    main()

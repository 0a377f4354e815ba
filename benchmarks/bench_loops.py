"""Two inner loops, each timed both ways in alternating rounds in one process.

* Gradient ascent (`keras-cnns visualize --kind filters`): 40 steps on 16
  filters of ResNet-20 at 28x28 (`conv4_block3_out`), with the forward and
  backward pass traced once (`input_gradient_function`, the default) against
  running op by op at every step (as before 2026-12-03).
* Evaluation at a small training batch: ResNet-20 at half width predicting
  Fashion-MNIST's 10,000 test images batched by 16, as `predict_with_labels`
  does now (batches gathered up to `INFERENCE_BATCH_VALUES`, the last one
  padded) against each batch of 16 run alone (as before 2026-12-03).

The networks are untrained: neither loop's time depends on the weights. An
untimed first round traces every network and batch shape both sides use.

    .venv/bin/python benchmarks/bench_loops.py

Results: `benchmarks/results/loops.json`.
"""

import argparse
import functools
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import common  # noqa: E402  (benchmarks/common.py)
import keras  # noqa: E402

import keras_cnns  # noqa: E402
from keras_cnns.data import load_dataset  # noqa: E402
from keras_cnns.inspect import features, gradients  # noqa: E402
from keras_cnns.train import metrics  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402

def ascent_seconds(model, layer, compiled):
    """One `filter_patterns` call (16 filters, 40 steps), compiled or op by op."""
    original = features.input_gradient_function
    features.input_gradient_function = functools.partial(gradients.input_gradient_function, compiled=compiled)
    try:
        start = time.perf_counter()
        features.filter_patterns(model, layer)
        return time.perf_counter() - start
    finally:
        features.input_gradient_function = original


def evaluation_seconds(model, dataset, gathered):
    """One `predict_with_labels` pass over `dataset`: its batches gathered for inference, or each run alone."""
    original = metrics.INFERENCE_BATCH_VALUES
    if not gathered:
        metrics.INFERENCE_BATCH_VALUES = 0  # Every batch is "large enough": run as it comes.
    try:
        start = time.perf_counter()
        metrics.predict_with_labels(model, dataset)
        return time.perf_counter() - start
    finally:
        metrics.INFERENCE_BATCH_VALUES = original


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
    rounds = {"ascent_compiled": [], "ascent_op_by_op": [], "evaluation_gathered": [], "evaluation_batch_16": []}
    for index in range(args.rounds + 1):
        # Each side once per round, in turn, so that a change of the machine's speed falls on both. Round 0
        # traces every network and batch shape; it is not counted.
        times = {
            "ascent_compiled": ascent_seconds(resnet, "conv4_block3_out", compiled=True),
            "ascent_op_by_op": ascent_seconds(resnet, "conv4_block3_out", compiled=False),
            "evaluation_gathered": evaluation_seconds(half, bundle.test, gathered=True),
            "evaluation_batch_16": evaluation_seconds(half, bundle.test, gathered=False),
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
        "backend": keras.backend.backend(),
        "seconds": rounds,
        "medians_s": medians,
        "ascent_speedup": medians["ascent_op_by_op"] / medians["ascent_compiled"],
        "evaluation_speedup": medians["evaluation_batch_16"] / medians["evaluation_gathered"],
    }
    write_json(os.path.join(common.RESULTS_DIR, f"{args.results}.json"), results)
    print(f"medians: {', '.join(f'{key} {value:.2f} s' for key, value in medians.items())}")
    print(f"ascent {results['ascent_speedup']:.1f}x, evaluation {results['evaluation_speedup']:.1f}x faster")


if __name__ == "__main__":
    main()

"""Time to accuracy (issue 14): test accuracy against training time, per recipe and seed.

    .venv/bin/python benchmarks/bench_time_to_accuracy.py run [--recipes fashion_mnist_quick] [--seeds 0 1 2]
        [--set batch_size=512 ...] [--no-curve | --curve-every N]
    .venv/bin/python benchmarks/bench_time_to_accuracy.py ablation [--recipe fashion_mnist_quick] [--seeds 0]
        [--only-removals | --only-additions]
    .venv/bin/python benchmarks/bench_time_to_accuracy.py breakdown [--recipe fashion_mnist_quick]

`run` trains each recipe once per seed on the real Fashion-MNIST and, after
every epoch, scores the test split with the model as `evaluate` and
`export` would use it (the averaged weights, in float32, wrapped in the
recipe's test-time augmentation). That scoring is not part of the clock,
but it lengthens the run (for a network of ResNet-14x2's size, 28 s an
epoch against 68 s of training): `--curve-every N` scores after every N-th
epoch and the last, `--no-curve` only after the last.
The clock is the training of `model.fit` (steps and any validation) plus
the whitening of the first convolution where the recipe asks for it; loading
the data and evaluating the final model are outside it, as in `keras-cnns
train`'s own `train_seconds`. It then trains two references on the same data
and machine: the Keras tutorial's convolutional network (keras.io, "Simple
MNIST convnet": two 3x3 convolutions of 32 and 64 filters with max pooling,
dropout 0.5, Adam, batch 128, 15 epochs, pixels scaled to [0, 1]) and the
main job's recipe as it was before issue 14 (`BEFORE_ISSUE_14`;
`--no-references` leaves both out). It writes
`benchmarks/results/time_to_accuracy.json` and the plot
`benchmarks/results/time_to_accuracy.png` (`--results` names others); the
results file is rewritten after every run (`"finished": false` until the
last), so a benchmark stopped part of the way keeps the runs it finished.
With `--set FIELD=VALUE ...` each seed trains the recipe and then the
recipe with those `TrainConfig` fields changed, one after the other, so
the pair sees the same state of this machine (its speed drifts, see
BENCHMARKS.md).

`breakdown` says where an epoch of a recipe goes: a whole epoch, the input
pipeline alone, the training steps alone (one batch fed again and again), and
evaluation of the test split, per epoch (medians of three alternating
rounds), and the training images per second against the
network's multiply-accumulates, as a share of what a large matrix multiply
reaches on this CPU in the same precision. It writes
`benchmarks/results/time_breakdown.json`.

`ablation` trains a recipe and then the recipe with each of issue 14's pieces
taken out, one at a time (`ABLATION`), and with each piece it leaves out
added (`ADDITIONS`), for each seed; it writes
`benchmarks/results/ablation-RECIPE.json` (`-additions` with
`--only-additions`).

`--quick` trains a few hundred images for one epoch, to check the script.
"""

import argparse
import json
import os
import re
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_cnns  # noqa: E402,F401  (before Keras: it asks TensorFlow for its oneDNN kernels)
import keras  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402  (benchmarks/common.py)

# The main job's recipe before issue 14 (BENCHMARKS.md, "Main job"): float32, 12 epochs on 54,000 images with
# a validation split, label smoothing 0.1, no averaging, whitening or test-time augmentation.
BEFORE_ISSUE_14 = ("fashion_mnist_quick", dict(epochs=12, mixed_precision="off", validation_split=0.1,
                                               label_smoothing=0.1, ema_decay=None, whiten_first_conv=False,
                                               batch_norm_momentum=None, tta=None, warmup_epochs=1))
GOALS = {"fashion_mnist_quick": (0.93, 150.0), "fashion_mnist_resnet14x2": (0.95, 1200.0)}
# The ablation: each of issue 14's pieces taken out of a recipe, one at a time (the recipe's own value -> this).
ABLATION = {
    "bfloat16": dict(mixed_precision="off"),
    "weight averaging": dict(ema_decay=None),
    "whitened first convolution": dict(whiten_first_conv=False),
    "batch-norm momentum 0.9": dict(batch_norm_momentum=None),
    "label smoothing 0.2 (0.1 instead)": dict(label_smoothing=0.1),
    "all 60,000 images (validation split 0.1 instead)": dict(validation_split=0.1),
    "batch-norm biases at 64x the learning rate (1x instead)": dict(norm_bias_lr_scale=1.0),
}
# And the pieces a recipe leaves out, added one at a time.
ADDITIONS = {
    "identity (Dirac) filters": dict(dirac_init=True),
    "Lookahead (k=5, alpha=0.5)": dict(lookahead_steps=5),
    "alternating flips": dict(augment={"flip": "alternate"}),
    "batch-norm biases at 64x the learning rate": dict(norm_bias_lr_scale=64),
}


class TestCurve(keras.callbacks.Callback):
    """After every `every`-th epoch and the last: the training seconds so far and the test accuracy of the
    model as it would be shipped."""

    def __init__(self, images, labels, tta, setup_seconds, every=1):
        super().__init__()
        self.images, self.labels, self.tta = images, labels, tta
        self.setup_seconds = setup_seconds
        self.every = every
        self.points = []
        self._clock = 0.0

    def on_epoch_end(self, epoch, logs=None):
        from keras_cnns.train.precision import float32_model
        from keras_cnns.train.tta import with_test_time_augmentation

        self._clock += logs["epoch_seconds"]
        if (epoch + 1) % self.every and epoch + 1 != self.params["epochs"]:
            return
        bare = float32_model(self.model)
        point = {"epoch": epoch + 1, "seconds": self.setup_seconds() + self._clock}
        if self.tta is not None:
            point["test_accuracy_without_tta"] = self.accuracy(bare)
        shipped = bare if self.tta is None else with_test_time_augmentation(bare, self.tta)
        point["test_accuracy"] = self.accuracy(shipped)
        self.points.append(point)

    def accuracy(self, model):
        probabilities = model.predict(self.images, batch_size=1000, verbose=0)
        return float(np.mean(np.argmax(probabilities, axis=1) == self.labels))


def timed_whitening():
    """Wraps the trainer's whitening so its seconds can be added to the clock; returns a reader of them."""
    from keras_cnns.train import trainer

    spent = [0.0]
    whiten = trainer.whiten_first_convolution

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return whiten(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    trainer.whiten_first_convolution = timed
    return lambda: spent[0], whiten


def test_split(config):
    """The test images and labels of a run's dataset, prepared as the run prepares them."""
    from keras_cnns.train.trainer import load_bundle

    batches = list(load_bundle(config, verbose=0).test)
    return (np.concatenate([images.numpy() for images, _ in batches]),
            np.concatenate([labels.numpy() for _, labels in batches]))


def train_recipe(recipe, seed, out_root, quick, label=None, overrides=None, curve=True, curve_every=1):
    """One run of `recipe` with `seed`; returns its row with the curve, scored every `curve_every` epochs and
    after the last (only its end without `curve`)."""
    from keras_cnns.train import recipe_config, train

    settings = dict(overrides or {})
    if quick:
        settings.update(epochs=1, limit=500, warmup_epochs=0.2)
    label = label or recipe
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)  # A label may hold spaces, commas and "=".
    config = recipe_config(recipe, seed=seed, out_dir=os.path.join(out_root, f"{folder}-seed{seed}"), **settings)
    images, labels = test_split(config)
    from keras_cnns.train import trainer

    whitening_seconds, untimed = timed_whitening()
    scoring = TestCurve(images, labels, config.tta, whitening_seconds, every=curve_every)
    try:
        result = train(config, verbose=2, overwrite=True, callbacks=[scoring] if curve else [])
    finally:
        trainer.whiten_first_convolution = untimed
    metrics = result.metrics
    points = scoring.points or [{"epoch": metrics["epochs_run"], "test_accuracy": metrics["test_accuracy"],
                                 "seconds": whitening_seconds() + metrics["training_wall_time_s"]}]
    return {
        "label": label, "recipe": recipe, "seed": seed, "config": config.to_dict(),
        "test_accuracy": metrics["test_accuracy"], "dtype_policy": metrics["dtype_policy"],
        "training_seconds": whitening_seconds() + metrics["training_wall_time_s"],
        "whitening_seconds": whitening_seconds(), "fit_seconds": metrics["training_wall_time_s"],
        "images_per_second": metrics["images_per_second"], "curve": points,
    }


def train_keras_tutorial(seed, quick):
    """The keras.io MNIST convnet trained as the tutorial trains it, on Fashion-MNIST; returns its row."""
    from keras_cnns.data.loader import load_arrays

    arrays = load_arrays("fashion_mnist", validation_split=0.0, verbose=0)
    train_images = arrays.train[0].astype("float32") / 255.0
    test_images = arrays.test[0].astype("float32") / 255.0
    train_labels, test_labels = arrays.train[1], arrays.test[1]
    if quick:
        train_images, train_labels = train_images[:500], train_labels[:500]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input(shape=train_images.shape[1:]),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.MaxPooling2D(pool_size=(2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    points, clock = [], 0.0
    for epoch in range(1 if quick else 15):
        start = time.perf_counter()
        model.fit(train_images, train_labels, batch_size=128, epochs=1, validation_split=0.1, verbose=0)
        clock += time.perf_counter() - start
        accuracy = float(model.evaluate(test_images, test_labels, batch_size=1000, verbose=0)[1])
        points.append({"epoch": epoch + 1, "seconds": clock, "test_accuracy": accuracy})
        print(f"keras tutorial convnet, epoch {epoch + 1}: {clock:.1f} s, test accuracy {accuracy:.4f}", flush=True)
    return {"label": "keras_tutorial_convnet", "recipe": None, "seed": seed,
            "test_accuracy": points[-1]["test_accuracy"], "training_seconds": clock, "curve": points}


def summarize(rows):
    """Per label: lowest, mean and spread of the final test accuracy and of the training seconds, and the goal of
    the label's recipe (`GOALS`) with whether every seed met it."""
    summary = {}
    for label in dict.fromkeys(row["label"] for row in rows):
        recipe = next(row["recipe"] for row in rows if row["label"] == label)
        accuracies = [row["test_accuracy"] for row in rows if row["label"] == label]
        seconds = [row["training_seconds"] for row in rows if row["label"] == label]
        entry = {"runs": len(accuracies), "lowest_accuracy": min(accuracies),
                 "mean_accuracy": float(np.mean(accuracies)), "accuracy_spread": max(accuracies) - min(accuracies),
                 "slowest_seconds": max(seconds), "mean_seconds": float(np.mean(seconds))}
        goal = GOALS.get(recipe)  # A recipe changed by --set keeps the recipe's goal.
        if goal is not None:
            entry["goal"] = {"test_accuracy": goal[0], "seconds": goal[1]}
            entry["goal_met_by_every_seed"] = bool(entry["lowest_accuracy"] >= goal[0]
                                                   and entry["slowest_seconds"] <= goal[1])
        summary[label] = entry
    return summary


def plot(rows, path):
    """Test accuracy against training minutes: one line per run, one colour per recipe."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5))
    colours = {}
    for row in rows:
        colour = colours.setdefault(row["label"], f"C{len(colours)}")
        minutes = [point["seconds"] / 60 for point in row["curve"]]
        accuracy = [point["test_accuracy"] * 100 for point in row["curve"]]
        first = sum(1 for other in rows[:rows.index(row)] if other["label"] == row["label"]) == 0
        axes.plot(minutes, accuracy, marker="o", markersize=3, color=colour, alpha=0.85,
                  label=row["label"] if first else None)
    # Minutes on a log scale: the quick recipe's two minutes and ResNet-20's hour both stay readable.
    left = min(row["curve"][0]["seconds"] for row in rows) / 60 / 1.5
    for label, (accuracy, seconds) in GOALS.items():
        axes.fill_between([left, seconds / 60], accuracy * 100, 100, color="green", alpha=0.07,
                          label=f"goal of {label}: {accuracy:.1%} within {seconds / 60:g} min")
    right = 1.15 * max([row["curve"][-1]["seconds"] / 60 for row in rows] + [s / 60 for _, s in GOALS.values()])
    axes.set_xscale("log")
    axes.set_xlim(left, right)
    ticks = [t for t in (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120) if left <= t <= right]
    axes.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axes.set_xticks([], minor=True)  # The log scale's own minor labels ("4x10^0") would sit between ours.
    axes.set_xlabel("training time (minutes, this machine; log scale)")
    axes.set_ylabel("test accuracy (%), Fashion-MNIST")
    axes.set_ylim(84, 96)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title("Time to accuracy on 2 CPU cores: each line one seed", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def ablation(args):
    """The recipe, then the recipe without each piece of `ABLATION` it uses, for each seed."""
    from keras_cnns.train import recipe_config

    recipe = args.recipe
    settings = recipe_config(recipe).to_dict()
    rows = []
    for seed in args.seeds:
        rows.append(train_recipe(recipe, seed, args.out, args.quick))
        if settings["tta"] is not None:  # The same run, scored without its views after every epoch.
            curve = [{**point, "test_accuracy": point["test_accuracy_without_tta"]} for point in rows[-1]["curve"]]
            rows.append({**rows[-1], "label": "without test-time augmentation", "curve": curve,
                         "test_accuracy": curve[-1]["test_accuracy"]})
        for piece, change in ABLATION.items():
            if args.only_additions or all(settings[field] == value for field, value in change.items()):
                continue  # The recipe does not use this piece.
            rows.append(train_recipe(recipe, seed, args.out, args.quick, label=f"without {piece}",
                                     overrides=change))
            print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("config", "curve")}), flush=True)
        for piece, change in ADDITIONS.items():
            if args.only_removals or all(settings[field] == value for field, value in change.items()):
                continue  # The recipe uses it already.
            rows.append(train_recipe(recipe, seed, args.out, args.quick, label=f"with {piece}", overrides=change))
            print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("config", "curve")}), flush=True)
    results = {**common.run_facts(), "recipe": recipe, "summary": summarize(rows), "runs": rows}
    print(json.dumps(results["summary"], indent=2))
    from keras_cnns.train.atomic import write_json

    folder = args.out if args.quick else common.RESULTS_DIR
    part = "-additions" if args.only_additions else ""
    write_json(os.path.join(folder, f"ablation-{recipe}{part}.json"), results)
    return results


def parse_settings(pairs):
    """`["batch_size=512", "tta=null"]` -> `{"batch_size": 512, "tta": None}` (values read as JSON, else text)."""
    settings = {}
    for pair in pairs or []:
        field, separator, text = pair.partition("=")
        if not separator or not field:
            raise SystemExit(f"--set takes FIELD=VALUE (a TrainConfig field and its value as JSON); "
                             f"received {pair!r}. For example: --set batch_size=512 ema_decay=0.98")
        try:
            settings[field] = json.loads(text)
        except json.JSONDecodeError:
            settings[field] = text
    return settings


def run(args):
    if args.replot:
        path = os.path.join(common.RESULTS_DIR, f"{args.results}.json")
        with open(path, encoding="utf-8") as file:
            plot(json.load(file)["runs"], os.path.join(common.RESULTS_DIR, f"{args.results}.png"))
        return None
    variant = parse_settings(args.set)
    if args.only_changed and not variant:
        raise SystemExit("--only-changed trains only the recipe with the --set changes; pass --set FIELD=VALUE too.")
    if variant:
        from keras_cnns.train import recipe_config

        for recipe in args.recipes:  # A field or value TrainConfig refuses fails now, not after the first run.
            recipe_config(recipe, **variant)
    folder = args.out if args.quick else common.RESULTS_DIR  # A check of the script leaves the results alone.
    rows = []

    def save(finished):
        # After every run, so that a benchmark stopped part of the way keeps the runs it finished.
        results = {**common.run_facts(), "finished": finished, "summary": summarize(rows), "runs": rows}
        from keras_cnns.train.atomic import write_json

        write_json(os.path.join(folder, f"{args.results}.json"), results)
        return results

    for recipe in args.recipes:
        for seed in args.seeds:
            runs = [] if args.only_changed else [(recipe, {})]
            if variant:
                runs.append((f"{recipe}, " + ", ".join(f"{k}={v}" for k, v in variant.items()), variant))
            for label, overrides in runs:
                rows.append(train_recipe(recipe, seed, args.out, args.quick, label=label, overrides=overrides,
                                         curve=not args.no_curve, curve_every=args.curve_every))
                print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("config", "curve")}), flush=True)
                save(finished=False)
    if not args.no_references:
        rows.append(train_keras_tutorial(args.seeds[0], args.quick))
        recipe, overrides = BEFORE_ISSUE_14
        rows.append(train_recipe(recipe, args.seeds[0], args.out, args.quick, label="quick_before_issue_14",
                                 overrides=overrides))
    results = save(finished=True)
    print(json.dumps(results["summary"], indent=2))
    plot(rows, os.path.join(folder, f"{args.results}.png"))
    return results


# ------------------------------------------------------------------ breakdown


def seconds_of(function, repeats=1):
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def matmul_flops_per_second(dtype, size=2048, repeats=10):
    """Floating-point operations per second of a large matrix product in `dtype` (TensorFlow, this CPU)."""
    import tensorflow as tf

    a = tf.random.normal((size, size), dtype="float32")
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.matmul(x, x))
    product(a)
    return 2 * size ** 3 / seconds_of(lambda: product(a).numpy(), repeats)


def breakdown(args):
    from keras_cnns.inspect import layer_table
    from keras_cnns.train import recipe_config
    from keras_cnns.train.precision import float32_model
    from keras_cnns.train.fused_batch_norm import fused_batch_norm, use_fused_batch_norm
    from keras_cnns.train.trainer import build_compiled_model, load_bundle
    from keras_cnns.train.tta import with_test_time_augmentation

    overrides = dict(limit=2048) if args.quick else {}
    config = recipe_config(args.recipe, out_dir=os.path.join(args.out, "breakdown"), **overrides)
    bundle = load_bundle(config, verbose=0)
    steps = -(-bundle.num_train // config.batch_size)
    model = build_compiled_model(config, bundle, steps)
    stream = bundle.training_stream()
    images, labels = next(iter(bundle.train))
    # The training steps as `train` runs them: batch norm in TensorFlow's fused kernel where the recipe has it.
    with fused_batch_norm(model, enabled=use_fused_batch_norm(config.fused_batch_norm)):
        for _ in range(3):  # Traced and warm.
            model.train_on_batch(images, labels)
        shipped = float32_model(model)
        if config.tta is not None:
            shipped = with_test_time_augmentation(shipped, config.tta)
        shipped.predict(bundle.test, verbose=0)
        # This machine's speed drifts between levels minutes apart: the four measurements alternate, and the
        # medians of the rounds are reported.
        measurements = {
            "whole_epoch": lambda: model.fit(stream, steps_per_epoch=steps, epochs=1, verbose=0),
            "input_pipeline_alone": lambda: [None for _ in bundle.train],  # One pass, batches made and dropped.
            "training_steps_alone": lambda: [model.train_on_batch(images, labels) for _ in range(steps)],
            "evaluation_of_the_test_split": lambda: shipped.predict(bundle.test, verbose=0),
        }
        rounds = {name: [] for name in measurements}
        for _ in range(1 if args.quick else 3):
            for name, measure in measurements.items():
                rounds[name].append(seconds_of(measure))
    seconds = {name: float(np.median(values)) for name, values in rounds.items()}
    macs = layer_table(float32_model(model)).total_macs
    images_per_second = steps * config.batch_size / seconds["training_steps_alone"]
    # Training is about 3 passes of the network (forward, and backward for inputs and weights): 6 FLOPs a MAC.
    achieved = 6 * macs * images_per_second
    policy = model.layers[1].dtype_policy.name
    compute_dtype = "bfloat16" if "bfloat16" in policy else "float32"
    peak = matmul_flops_per_second(compute_dtype)
    results = {
        **common.run_facts(), "recipe": args.recipe, "dtype_policy": policy, "batch_size": config.batch_size,
        "steps_per_epoch": steps, "train_images": bundle.num_train, "test_images": bundle.num_test,
        "seconds_per_epoch": seconds, "rounds": rounds,
        "multiply_accumulates_per_image": macs, "training_images_per_second_steps_alone": images_per_second,
        "achieved_flops_per_second": achieved, "matmul_flops_per_second": peak,
        "share_of_matmul_rate": achieved / peak, "matmul_dtype": compute_dtype,
    }
    print(json.dumps(results, indent=2))
    from keras_cnns.train.atomic import write_json

    folder = args.out if args.quick else common.RESULTS_DIR
    write_json(os.path.join(folder, "time_breakdown.json"), results)
    return results


def positive_int(text):
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of epochs, at least 1; received {text!r}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "ablation", "breakdown"])
    parser.add_argument("--recipes", nargs="+", default=["fashion_mnist_quick"])
    parser.add_argument("--recipe", default="fashion_mnist_quick", help="the recipe of `ablation` and `breakdown`")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--no-references", action="store_true", help="leave out the two reference runs")
    parser.add_argument("--only-additions", action="store_true",
                        help="with ablation: train only the recipe and the recipe with each piece it leaves out")
    parser.add_argument("--only-removals", action="store_true",
                        help="with ablation: leave out the pieces the recipe does not use")
    parser.add_argument("--no-curve", action="store_true",
                        help="with run: score the test split only at the end, not after every epoch")
    parser.add_argument("--curve-every", type=positive_int, default=1, metavar="N",
                        help="with run: score the test split after every N-th epoch and the last (default 1); "
                             "the scoring is off the clock but costs wall time, a third of an epoch or more")
    parser.add_argument("--set", nargs="+", metavar="FIELD=VALUE",
                        help="with run: also train each recipe and seed with these TrainConfig fields changed")
    parser.add_argument("--only-changed", action="store_true",
                        help="with run --set: train only the changed recipe, not the recipe itself (when the "
                             "recipe's own seeds were measured before)")
    parser.add_argument("--quick", action="store_true", help="a few hundred images, one epoch: checks the script")
    parser.add_argument("--out", default="runs/time_to_accuracy", help="where the training runs go")
    parser.add_argument("--results", default="time_to_accuracy",
                        help="with run: the name of the results file and plot in benchmarks/results")
    parser.add_argument("--replot", action="store_true",
                        help="with run: redraw the plot from the --results file in benchmarks/results, train nothing")
    args = parser.parse_args(argv)
    {"run": run, "ablation": ablation, "breakdown": breakdown}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())

"""What a run's averaged weights score between epochs, and why: four views of one network at the same moment.

A recipe with weight averaging (`ema_decay`) trains its own weights and, between epochs, puts the average in
the model: that is what validation, `best.keras` and the per-epoch backup hold. Keras' `use_ema` averages
only the trainable variables, so the batch-norm statistics would be those the trained weights gathered.
After every `--every`-th epoch this scores the test split (through the run's own pipeline, without
test-time augmentation) four ways, setting the statistics of each view itself:

- `averaged`: the averaged weights with the trained weights' statistics (Keras' `use_ema` alone; what runs
  saved before `WeightAveraging` averaged the statistics, 2026-12-05);
- `trained`: the trained weights with their own statistics;
- `averaged_recomputed`: the averaged weights with batch-norm statistics recomputed for them (the mean and
  variance of every batch-norm input over `--batches` training batches, cumulative, as SWA's `update_bn`);
- `averaged_statistics_averaged`: the averaged weights with the statistics averaged like the weights (with
  the run's `ema_decay` a step, as `WeightAveraging` now saves them; the run of 2026-12-05 in BENCHMARKS.md
  took them after every step, before `WeightAveraging.statistics_every` was 4).

    .venv/bin/python benchmarks/bench_averaged_statistics.py --recipe fashion_mnist_resnet14x2 --set model=resnet20 epochs=34 --stop-after 8 --every 2

The run stops after `--stop-after` epochs of its schedule (the learning rate follows the whole schedule).
Results: `benchmarks/results/averaged_statistics-NAME.json` (`--results NAME`).

What averaging the statistics costs a step (`WeightAveraging` against Keras' `SwapEMAWeights` alone, the
recipe's network as training runs it, `--steps` steps of its real data per round (timed from the tenth),
alternating rounds in one process, medians; `averaged_statistics-overhead-RECIPE.json`):

    .venv/bin/python benchmarks/bench_averaged_statistics.py --recipe fashion_mnist_quick --overhead 5
    .venv/bin/python benchmarks/bench_averaged_statistics.py --recipe fashion_mnist_quick --overhead 5 --statistics-every 1 --results averaged_statistics-overhead-every-step
"""

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402  (benchmarks/common.py)
from bench_time_to_accuracy import parse_settings, test_split  # noqa: E402

import keras  # noqa: E402


def count(text):
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1; received {text!r}")
    return value


def accuracy(model, images, labels):
    probabilities = model.predict(images, batch_size=1000, verbose=0)
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def statistics_of(model):
    """Every batch norm's moving mean and moving variance, in layer order."""
    return [variable for layer in batch_norm_layers(model) for variable in (layer.moving_mean, layer.moving_variance)]


def values_of(variables):
    return [np.array(keras.ops.convert_to_numpy(variable)) for variable in variables]


def assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


def batch_norm_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_statistics(model, batches):
    """Sets every batch norm's moving mean and variance to their plain average over `batches`."""
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    try:
        for count, (images, _) in enumerate(batches):
            for layer in layers:
                # moving = moving * momentum + batch * (1 - momentum): momentum n / (n + 1) at the n-th batch
                # (from 0) keeps the plain mean of the batches seen.
                layer.momentum = count / (count + 1)
            model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum


class FourViews(keras.callbacks.Callback):
    """Tracks the trained statistics and their average itself, after every step; scores the views between
    epochs, where `WeightAveraging` (an earlier callback) has put the averaged weights in the model."""

    def __init__(self, images, labels, train, every, stop_after, batches, decay):
        super().__init__()
        self.images, self.labels, self.train = images, labels, train
        self.every, self.stop_after, self.batches, self.decay = every, stop_after, batches, decay
        self.points = []
        self._trained = self._averages = None
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        from keras_cnns.train.callbacks import WeightAveraging

        self._trained, self._steps = values_of(statistics_of(self.model)), self._steps + 1
        every = WeightAveraging.statistics_every  # As the run averages them.
        if self._averages is None:
            self._averages = self._trained
        elif self._steps % every == 0:
            decay = self.decay ** every
            self._averages = [decay * average + (1 - decay) * value
                              for average, value in zip(self._averages, self._trained)]

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0 or done == self.stop_after:
            self.points.append(self.score(done, logs))
            print(json.dumps(self.points[-1]), flush=True)
        if done >= self.stop_after:
            self.model.stop_training = True

    def score(self, epoch, logs):
        from keras_cnns.train.precision import float32_model

        model, optimizer = self.model, self.model.optimizer
        point = {"epoch": epoch, "training_accuracy": float(logs.get("accuracy", float("nan")))}
        averaged = float32_model(model)
        if averaged is model:
            raise SystemExit("This probe compares views of a float32 copy; run a recipe that trains in a "
                             "mixed policy (mixed_precision 'auto' on a CPU with bfloat16, or 'mixed_bfloat16').")
        assign(statistics_of(averaged), self._trained)
        point["averaged"] = accuracy(averaged, self.images, self.labels)
        assign(statistics_of(averaged), self._averages)
        point["averaged_statistics_averaged"] = accuracy(averaged, self.images, self.labels)

        # While the average is in the model, the optimizer's average slots hold the trained weights.
        slots = optimizer._model_variables_moving_average
        trained = float32_model(model)
        for source, target in zip(model.trainable_variables, trained.trainable_variables):
            target.assign(keras.ops.convert_to_numpy(slots[optimizer._get_variable_index(source)]))
        assign(statistics_of(trained), self._trained)
        point["trained"] = accuracy(trained, self.images, self.labels)
        point["largest_trained_minus_averaged"] = float(max(
            np.max(np.abs(a - b)) for a, b in zip(values_of(trained.trainable_variables),
                                                   values_of(averaged.trainable_variables))))

        start = time.perf_counter()
        recompute_statistics(averaged, self.train.take(self.batches))
        point["averaged_recomputed"] = accuracy(averaged, self.images, self.labels)
        point["recompute_seconds"] = time.perf_counter() - start
        return point


class StepClock(keras.callbacks.Callback):
    """Seconds a step from the start of step `skip` to the end of the last (no set-up, no epoch's end)."""

    def __init__(self, skip=10):
        super().__init__()
        self.skip, self.start, self.steps = skip, None, 0

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.skip:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch >= self.skip:
            self.steps, self.end = self.steps + 1, time.perf_counter()

    @property
    def milliseconds_per_step(self):
        return 1000 * (self.end - self.start) / self.steps


def overhead(config, rounds, steps):
    """Median milliseconds per step of `fit` with each averaging callback, in alternating rounds."""
    from keras_cnns.train.callbacks import WeightAveraging
    from keras_cnns.train.fused_batch_norm import fused_batch_norm, use_fused_batch_norm
    from keras_cnns.train.trainer import build_compiled_model, load_bundle

    bundle = load_bundle(config, verbose=0)
    batches = bundle.train.take(steps).cache()
    model = build_compiled_model(config, bundle, steps)
    callbacks = {"weights only (Keras' SwapEMAWeights)": lambda: keras.callbacks.SwapEMAWeights(swap_on_epoch=True),
                 "weights and statistics (WeightAveraging)": lambda: WeightAveraging(config.ema_decay)}
    times = {name: [] for name in callbacks}
    with fused_batch_norm(model, enabled=use_fused_batch_norm(config.fused_batch_norm)):
        for round_ in range(rounds + 1):  # The first round traces the step and fills the cache; not counted.
            for name, make in callbacks.items():
                clock = StepClock()
                model.fit(batches, epochs=1, verbose=0, callbacks=[make(), clock])  # The clock runs last.
                if round_:
                    times[name].append(clock.milliseconds_per_step)
                print(f"round {round_}: {name}: {clock.milliseconds_per_step:.1f} ms a step", flush=True)
    return {name: {"milliseconds_per_step": values, "median": float(np.median(values))}
            for name, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="fashion_mnist_resnet14x2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="TrainConfig fields to change, values as JSON (as bench_time_to_accuracy.py)")
    parser.add_argument("--stop-after", type=count, help="epochs to train of the schedule")
    parser.add_argument("--every", type=count, default=2, help="score after every N-th epoch")
    parser.add_argument("--batches", type=count, default=100, help="training batches for recomputed statistics")
    parser.add_argument("--overhead", type=count, metavar="ROUNDS",
                        help="instead: time a step with and without averaging the statistics, ROUNDS rounds")
    parser.add_argument("--steps", type=count, default=100, help="with --overhead: steps a round")
    parser.add_argument("--statistics-every", type=count, default=None, metavar="N",
                        help="with --overhead: read the statistics every N steps (WeightAveraging's default: 4)")
    parser.add_argument("--out", default="runs/averaged-statistics")
    parser.add_argument("--results", default=None, help="results file name (default: from the recipe)")
    args = parser.parse_args(argv)

    from keras_cnns.train import recipe_config, train
    from keras_cnns.train.atomic import write_json
    from keras_cnns.train.trainer import load_bundle

    settings = parse_settings(args.set)
    config = recipe_config(args.recipe, seed=args.seed, out_dir=args.out, **settings)
    if config.ema_decay is None:
        raise SystemExit(f"{args.recipe} with {settings} averages no weights (ema_decay is None); nothing to compare.")
    if args.overhead:
        from keras_cnns.train.callbacks import WeightAveraging

        if args.steps <= StepClock().skip:
            raise SystemExit(f"--steps must be above the {StepClock().skip} untimed steps; received {args.steps}.")
        if args.statistics_every is not None:
            WeightAveraging.statistics_every = args.statistics_every
        medians = overhead(config, args.overhead, args.steps)
        name = args.results or f"averaged_statistics-overhead-{args.recipe}"
        write_json(os.path.join(common.RESULTS_DIR, f"{name}.json"),
                   {**common.run_facts(), "recipe": args.recipe, "set": settings, "steps": args.steps,
                    "batch_size": config.batch_size,
                    "statistics_every": WeightAveraging.statistics_every, "times": medians})
        return
    if args.stop_after is None or not 0 < args.stop_after <= config.epochs:
        raise SystemExit(f"--stop-after must be between 1 and the schedule's {config.epochs} epochs; "
                         f"received {args.stop_after}.")
    images, labels = test_split(config)
    views = FourViews(images, labels, load_bundle(config, verbose=0).train, args.every, args.stop_after,
                       args.batches, config.ema_decay)
    train(config, verbose=2, overwrite=True, callbacks=[views])

    results = {**common.run_facts(), "recipe": args.recipe, "seed": args.seed, "set": settings,
               "epochs_in_schedule": config.epochs, "points": views.points}
    name = args.results or f"averaged_statistics-{args.recipe}"
    write_json(os.path.join(common.RESULTS_DIR, f"{name}.json"), results)


if __name__ == "__main__":
    main()

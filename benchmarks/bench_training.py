"""Training benchmarks of keras_cnns (issue: data and training).

Three measurements, each a sub-command; each prints a table and writes its
numbers to `benchmarks/results/<name>.json`:

* `budget`: the main job's recipe (`fashion_mnist_quick`, see
  `keras_cnns/train/recipes.py`) on the real Fashion-MNIST: the test accuracy
  it reaches and the training time it took, against the goal (>= 93% within 2.5
  minutes of training; `bench_time_to_accuracy.py run` measures it on three seeds).
* `long`: the longer recipe (`fashion_mnist_resnet20`, a CIFAR-form ResNet
  with augmentation): the test accuracy it reaches, against the goal (95%).
  `--from-run DIR` reports a run already trained with that recipe (its
  config.json must match the recipe's) instead of training again.
* `throughput`: training images per second of our VGG16 and ResNet-50
  against keras.applications' (same layers) and against a plain PyTorch
  training loop of the same networks (`torch_reference.py`), at 32x32 and
  224x224, on synthetic images, in one run.

Run on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_training.py throughput
    .venv/bin/python benchmarks/bench_training.py budget
    .venv/bin/python benchmarks/bench_training.py long [--from-run RUN_DIR]

`--quick` runs a few steps / one short epoch of each, to check the script.
The PyTorch column needs torch (`pip install torch`, a CPU build); without it
the column is left out.
"""

import argparse
import datetime
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_cnns  # noqa: E402,F401  (before Keras: it asks TensorFlow for its oneDNN kernels)
import keras  # noqa: E402
import numpy as np  # noqa: E402

import common  # noqa: E402  (benchmarks/common.py)

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# (network, image size, batch size, timed steps): ImageNet-size steps are
# slow on a CPU, so fewer, smaller batches.
THROUGHPUT_CASES = (
    ("vgg16", 32, 128, 15),
    ("resnet50", 32, 128, 15),
    ("vgg16", 224, 16, 6),
    ("resnet50", 224, 16, 8),
)
WARMUP_STEPS = 3
CLASSES = 10


def machine_description():
    """CPU model, core count, OS and library versions, and the Keras backend, for the results file."""
    return {**common.machine_description(), "backend": keras.backend.backend()}


def write_results(name, results):
    """Writes `benchmarks/results/<name>.json` atomically and returns its path."""
    from keras_cnns.train.atomic import write_json

    path = os.path.join(RESULTS_DIR, f"{name}.json")
    write_json(path, {
        "benchmark": name,
        "command": " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "results": results,
    })
    return path


# ------------------------------------------------------------------ throughput


class StepTimer(keras.callbacks.Callback):
    """Wall time of the training steps after the first `warmup` ones."""

    def __init__(self, warmup):
        super().__init__()
        self.warmup = warmup
        self.start = self.end = None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()


def keras_images_per_second(model, image_size, batch_size, steps):
    """Images per second of `model.fit` steps on one synthetic batch, repeated."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch_size, image_size, image_size, 3)).astype("float32")
    labels = rng.integers(0, CLASSES, size=batch_size).astype("int32")
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    timer = StepTimer(WARMUP_STEPS)
    model.fit(dataset, steps_per_epoch=WARMUP_STEPS + steps, epochs=1, verbose=0, callbacks=[timer])
    return steps * batch_size / (timer.end - timer.start)


def torch_images_per_second(name, image_size, batch_size, steps):
    """Images per second of a plain PyTorch training loop of the same network."""
    import torch

    from torch_reference import build, count_parameters

    torch.manual_seed(0)
    model = build(name, image_size, CLASSES)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    images = torch.randn(batch_size, 3, image_size, image_size)
    labels = torch.randint(0, CLASSES, (batch_size,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch_size / (time.perf_counter() - start), count_parameters(model)


def keras_applications_model(name, image_size):
    builder = {"vgg16": keras.applications.VGG16, "resnet50": keras.applications.ResNet50}[name]
    return builder(weights=None, input_shape=(image_size, image_size, 3), classes=CLASSES)


def our_model(name, image_size):
    # dropout=0: keras.applications' VGG16 has no dropout layers.
    kwargs = {"dropout": 0.0} if name == "vgg16" else {}
    return keras_cnns.get_model(name, input_shape=(image_size, image_size, 3), classes=CLASSES, **kwargs)


def trainable_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def run_throughput(quick):
    try:
        import torch

        torch.set_num_threads(os.cpu_count())
        has_torch = True
    except ImportError:
        print("torch is not installed: the PyTorch column is left out (pip install torch).")
        has_torch = False
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    cases = [(n, s, b, 2) for n, s, b, _ in THROUGHPUT_CASES[:2]] if quick else THROUGHPUT_CASES
    rows = []
    for name, size, batch, steps in cases:
        ours = our_model(name, size)
        reference = keras_applications_model(name, size)
        if trainable_count(ours) != trainable_count(reference):
            raise RuntimeError(f"{name}: our network and keras.applications' differ in size; "
                               "the comparison would not be fair.")
        row = {"network": name, "image_size": size, "batch_size": batch, "steps": steps,
               "trainable_parameters": trainable_count(ours)}
        # Alternate the two Keras models so that neither always runs on a warmer machine.
        row["keras_applications_ips"] = keras_images_per_second(reference, size, batch, steps)
        row["keras_cnns_ips"] = keras_images_per_second(ours, size, batch, steps)
        del ours, reference
        keras.backend.clear_session()
        if has_torch:
            row["pytorch_ips"], torch_params = torch_images_per_second(name, size, batch, steps)
            if torch_params != row["trainable_parameters"]:
                raise RuntimeError(f"{name}: the PyTorch reference has {torch_params} trainable "
                                   f"parameters, ours {row['trainable_parameters']}.")
            row["keras_cnns_over_pytorch"] = row["keras_cnns_ips"] / row["pytorch_ips"]
        row["keras_cnns_over_keras_applications"] = row["keras_cnns_ips"] / row["keras_applications_ips"]
        rows.append(row)
        print_throughput_row(row)
    return rows


def print_throughput_row(row):
    text = (f"{row['network']:<9} {row['image_size']:>3}x{row['image_size']:<3} batch {row['batch_size']:>3}: "
            f"keras_cnns {row['keras_cnns_ips']:7.1f} img/s, keras.applications "
            f"{row['keras_applications_ips']:7.1f} (ratio {row['keras_cnns_over_keras_applications']:.2f})")
    if "pytorch_ips" in row:
        text += f", PyTorch {row['pytorch_ips']:7.1f} (ratio {row['keras_cnns_over_pytorch']:.2f})"
    print(text, flush=True)


# ---------------------------------------------------------------- accuracy runs


# benchmark -> (recipe, goal test accuracy, goal seconds of training or None)
GOALS = {"budget": ("fashion_mnist_quick", 0.93, 150.0), "long": ("fashion_mnist_resnet20", 0.95, None)}


def run_training(benchmark, out_root, quick, from_run=None):
    """Trains (or, with `from_run`, reads) one recipe's run; returns its row."""
    from keras_cnns.train import recipe_config, train

    recipe, goal_accuracy, goal_seconds = GOALS[benchmark]
    overrides = dict(epochs=1, limit=2000) if quick else {}
    config = recipe_config(recipe, out_dir=os.path.join(out_root, recipe), **overrides)
    if from_run is not None:
        metrics = read_run(from_run, config)
        run_dir, wall = from_run, None
    else:
        start = time.perf_counter()
        result = train(config, verbose=2, overwrite=True)
        metrics, run_dir, wall = result.metrics, result.out_dir, time.perf_counter() - start
    row = {
        "recipe": recipe,
        "config": config.to_dict(),
        "test_accuracy": metrics["test_accuracy"],
        "epochs": metrics["epochs_run"],
        # Wall time of model.fit (training steps plus the per-epoch validation).
        "fit_seconds": metrics["training_wall_time_s"],
        "train_seconds": metrics["train_seconds"],
        "wall_seconds_this_call": wall,
        "images_per_second": metrics["images_per_second"],
        "num_params": metrics["num_params"],
        "run_dir": run_dir,
        "goal_test_accuracy": goal_accuracy,
        "goal_fit_seconds": goal_seconds,
    }
    row["goal_met"] = bool(row["test_accuracy"] >= goal_accuracy
                           and (goal_seconds is None or row["fit_seconds"] <= goal_seconds))
    return row


def read_run(run_dir, config):
    """metrics.json of a finished run, after checking it ran `config` (all but out_dir)."""
    from keras_cnns.train.config import with_field_defaults

    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as file:
        ran = with_field_defaults(json.load(file))
    expected = config.to_dict()
    differences = {key: (ran.get(key), value) for key, value in expected.items()
                   if key != "out_dir" and ran.get(key) != value}
    if differences:
        raise SystemExit(f"{run_dir} did not run the recipe {config.model}/{config.dataset}: "
                         f"(ran, recipe) differ in {differences}. Train it with the recipe instead.")
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as file:
        return json.load(file)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=["throughput", "budget", "long"])
    parser.add_argument("--quick", action="store_true", help="a few steps only, to check the script")
    parser.add_argument("--out", default="runs/benchmarks", help="where the training runs go")
    parser.add_argument("--from-run", help="report this finished run of the recipe instead of training")
    args = parser.parse_args(argv)
    if args.benchmark == "throughput":
        results = run_throughput(args.quick)
    else:
        results = run_training(args.benchmark, args.out, args.quick, args.from_run)
        print(json.dumps({k: v for k, v in results.items() if k != "config"}, indent=2))
    if not args.quick:
        print("Results written to", write_results(args.benchmark, results))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())

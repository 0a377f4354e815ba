"""Time per training image of one network under settings that change only
speed, alternating rounds in one process (a ratio measured this way survives
this machine's drifting step times; see BENCHMARKS.md).

    .venv/bin/python benchmarks/bench_step_time.py pool_padding
    .venv/bin/python benchmarks/bench_step_time.py batch_size
    KERAS_BACKEND=jax .venv/bin/python benchmarks/bench_step_time.py batch_size
    .venv/bin/python benchmarks/bench_step_time.py precision
    .venv/bin/python benchmarks/bench_step_time.py onednn
    .venv/bin/python benchmarks/bench_step_time.py kernels
    .venv/bin/python benchmarks/bench_step_time.py batch_norm
    .venv/bin/python benchmarks/bench_step_time.py recipes
    .venv/bin/python benchmarks/bench_step_time.py widths

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
* `batch_norm`: the main job's network with Keras's batch norm, with it
  computed by TensorFlow's fused kernel (`fused_batch_norm`, what training
  does on the TensorFlow backend), and without batch norm (`vgg11`), in
  mixed_bfloat16 and float32.
* `recipes`: the networks of `fashion_mnist_quick`, `fashion_mnist_wide`
  and `fashion_mnist_resnet20` as training runs them on a CPU with
  bfloat16 (mixed_bfloat16, fused batch norm), batch 256: what an epoch of
  each costs on this machine (60,000 images times the microseconds).
* `widths`: CIFAR-form ResNets of 8, 14 and 20 layers at 1x, 1.5x, 2x and
  4x ResNet-20's 16/32/64 filters, beside the two VGG recipes' networks,
  as training runs them on a CPU with bfloat16 (mixed_bfloat16, fused batch
  norm), batch 256: which network buys the most multiply-accumulates per
  second (`fashion_mnist_resnet14x2` came from it).
* `kernels`: the main job's network in float32 and in mixed_bfloat16, one
  process each with `ONEDNN_VERBOSE=1`: milliseconds per step of each
  convolution's forward and backward passes, and the oneDNN kernel that ran
  each (an AMX kernel shows as `avx10_1_512_amx`).

Synthetic images, SGD with Nesterov momentum, `train_on_batch` after three
warm-up steps. Prints each round's microseconds per image and the medians (with each
network's multiply-accumulates per image and the GFLOP/s its step reaches,
at 6 operations per multiply-accumulate: forward, and backward to inputs
and weights),
and writes them with the command, date and machine to
`benchmarks/results/step_time-COMPARISON.json` (a later run of the same
comparison replaces it; `--results NAME` writes `NAME.json` instead);
BENCHMARKS.md cites the runs.
"""

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import common  # noqa: E402  (benchmarks/common.py, beside this script)
import keras_cnns  # noqa: E402,F401  (before Keras: it asks TensorFlow for its oneDNN kernels)
import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_cnns.inspect.layer_table import layer_table  # noqa: E402
from keras_cnns.models.resnet import build_cifar_resnet  # noqa: E402
from keras_cnns.registry import get_model  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402
from keras_cnns.train.fused_batch_norm import fused_batch_norm  # noqa: E402

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
        return {
            "resnet20, batch 128": (resnet20_network, 128, "float32"),
            "resnet20, batch 256": (resnet20_network, 256, "float32"),
            "resnet20, batch 256, mixed_bfloat16": (resnet20_network, 256, "mixed_bfloat16"),
        }
    if comparison == "precision":  # The main job's network (fashion_mnist_quick) in both precisions.
        return {
            "quick network, batch 256, float32": (quick_network, 256, "float32"),
            "quick network, batch 256, mixed_bfloat16": (quick_network, 256, "mixed_bfloat16"),
            "wide network, batch 256, float32": (wide_network, 256, "float32"),
            "wide network, batch 256, mixed_bfloat16": (wide_network, 256, "mixed_bfloat16"),
        }
    if comparison == "batch_norm":  # What the main job's batch norm costs (the network without it is vgg11).
        def without_batch_norm():
            return get_model("vgg11", input_shape=(28, 28, 1), pool_padding="same", **VGG_KNOBS)
        return {
            f"quick network{variant}, batch 256, {policy}": (build, 256, policy)
            for policy in ("mixed_bfloat16", "float32")
            for variant, build in ((" (Keras batch norm)", quick_network), (FUSED, quick_network),
                                   (" without batch norm", without_batch_norm))
        }
    if comparison == "recipes":  # Each recipe's network as its training runs it on a CPU with bfloat16.
        return {
            f"{name}{FUSED}, batch 256, mixed_bfloat16": (build, 256, "mixed_bfloat16")
            for name, build in (("fashion_mnist_quick's network", quick_network),
                                ("fashion_mnist_wide's network", wide_network),
                                ("fashion_mnist_resnet20's network", resnet20_network))
        }
    if comparison == "widths":  # Which widths and depths keep the bfloat16 matrix units busy.
        networks = {"fashion_mnist_quick's network (VGG-11-BN x0.25)": quick_network,
                    "fashion_mnist_wide's network (VGG-11-BN x0.5)": wide_network}
        for depth, width in ((20, 1.0), (20, 1.5), (20, 2.0), (14, 2.0), (8, 2.0), (8, 4.0)):
            filters = "/".join(str(int(f * width)) for f in (16, 32, 64))
            networks[f"resnet{depth} {filters}"] = cifar_resnet(depth, width)
        return {f"{name}{FUSED}, batch 256, mixed_bfloat16": (build, 256, "mixed_bfloat16")
                for name, build in networks.items()}
    if comparison == "quick":  # One setting: what `onednn` runs in each of its processes.
        return {"quick network, batch 256, float32": (quick_network, 256, "float32")}
    raise ValueError(f"Unknown comparison {comparison!r}; choose one of {', '.join(COMPARISONS)}.")


# A candidate whose label holds this trains inside `fused_batch_norm` (keras_cnns.train.fused_batch_norm).
FUSED = " with fused batch norm"


def quick_network():
    """The main job's network (`fashion_mnist_quick`)."""
    return get_model("vgg11_bn", input_shape=(28, 28, 1), pool_padding="same", **VGG_KNOBS)


def wide_network():
    """`fashion_mnist_wide`'s network: the main job's at half width (4x the multiply-accumulates)."""
    return get_model("vgg11_bn", input_shape=(28, 28, 1), pool_padding="same",
                     **{**VGG_KNOBS, "width_multiplier": 0.5})


def resnet20_network():
    """`fashion_mnist_resnet20`'s network: ResNet-20 at Fashion-MNIST's own 28x28."""
    return get_model("resnet20", input_shape=(28, 28, 1), classes=10)


def cifar_resnet(depth, width_multiplier):
    """A builder of the CIFAR-form ResNet of `depth` (6n+2) at `width_multiplier`, at 28x28."""
    return lambda: build_cifar_resnet(depth, input_shape=(28, 28, 1), classes=10, width_multiplier=width_multiplier)


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
    return _per_image_results(times)


KERNEL_POLICIES = ("float32", "mixed_bfloat16")
KERNEL_STEPS = 5
_TIMED = "=== timed steps"
_PASSES = {"forward_training": "forward", "backward_data": "backward to inputs",
           "backward_weights": "backward to weights"}


def compare_kernels():
    """Where a training step of the main job's network goes, convolution by convolution, in each precision.

    One process per precision with `ONEDNN_VERBOSE=1`: oneDNN then prints
    each primitive it runs, the kernel it chose and its own milliseconds.
    Prints, per convolution and pass, the milliseconds per step (the mean of
    `KERNEL_STEPS` steps after warm-up) and the kernel of each precision,
    then the totals per primitive kind. oneDNN's printing slows the steps,
    not the times it reports.
    """
    per_policy = {}
    for policy in KERNEL_POLICIES:
        child = subprocess.run([sys.executable, __file__, "kernel_steps", policy], capture_output=True, text=True,
                               check=True, env={**os.environ, "ONEDNN_VERBOSE": "1"})
        if _TIMED not in child.stdout:
            raise SystemExit(f"the {policy} process printed no timed steps; its end:\n{child.stdout[-2000:]}")
        per_policy[policy] = _kernel_times(child.stdout.split(_TIMED, 1)[1])
    if not any(per_policy.values()):
        raise SystemExit("oneDNN printed no primitives: TensorFlow is not using its oneDNN kernels here "
                         "(TF_ENABLE_ONEDNN_OPTS=0, or a CPU it does not support).")
    print(f"kernels: the main job's network at batch 256, milliseconds per training step in each oneDNN primitive "
          f"(mean of {KERNEL_STEPS} steps)")
    order = list(_PASSES)
    convolutions = sorted({key for times in per_policy.values() for key in times if key[0] == "convolution"},
                          key=lambda key: (order.index(key[1]) if key[1] in order else len(order), -key[2][2], key[2][0]))
    for key in convolutions:
        channels_in, channels_out, size = key[2]
        cells = []
        for policy, times in per_policy.items():
            milliseconds, kernel, calls = times.get(key, (0.0, "-", 0))
            cells.append(f"{policy} {milliseconds:6.2f} ({kernel})")
        layers = calls // KERNEL_STEPS
        print(f"conv {channels_in:>3}->{channels_out:<3} at {size:>2}x{size:<2}"
              f"{' (' + str(layers) + ' layers)' if layers > 1 else '           '} "
              f"{_PASSES.get(key[1], key[1]):20} " + " | ".join(cells))
    for policy, times in per_policy.items():
        totals = {}
        for (kind, pass_name, _), (milliseconds, _, _) in times.items():
            label = f"{kind} {_PASSES.get(pass_name, '')}".strip()
            totals[label] = totals.get(label, 0.0) + milliseconds
        text = ", ".join(f"{label} {value:.1f}" for label, value in sorted(totals.items(), key=lambda kv: -kv[1]))
        print(f"{policy} totals (ms per step): {text}; all {sum(totals.values()):.1f}")
    return {policy: [{"primitive": kind, "pass": _PASSES.get(pass_name, pass_name), "channels_in": shape[0],
                      "channels_out": shape[1], "size": shape[2], "ms_per_step": round(milliseconds, 3),
                      "kernel": kernel, "calls": calls}
                     for (kind, pass_name, shape), (milliseconds, kernel, calls) in times.items()]
            for policy, times in per_policy.items()}


def _kernel_times(verbose_output):
    """`{(kind, pass, (in, out, size)): (ms per step, kernel, calls)}` from oneDNN's verbose lines.

    Layers of one shape share an entry: their milliseconds add up.
    """
    times = {}
    for line in verbose_output.splitlines():
        fields = line.split(",")
        if not line.startswith("onednn_verbose,") or fields[2:4] != ["primitive", "exec"]:
            continue
        kind, kernel, pass_name, problem, milliseconds = fields[5], fields[6], fields[7], fields[-2], fields[-1]
        shape = re.search(r"ic(\d+)oc(\d+)_ih(\d+)", problem)
        key = (kind, pass_name, tuple(int(v) for v in shape.groups()) if shape else (0, 0, 0))
        total, _, calls = times.get(key, (0.0, kernel, 0))
        times[key] = (total + float(milliseconds) / KERNEL_STEPS, kernel.split(":")[0] + ":" + kernel.split(":")[-1],
                      calls + 1)
    return times


def kernel_steps(policy):
    """The child of `compare_kernels`: warm-up steps, the marker, then `KERNEL_STEPS` timed steps."""
    keras.mixed_precision.set_global_policy(policy)
    model = quick_network()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    images, labels = rng.random((256, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 256)
    for _ in range(3):
        model.train_on_batch(images, labels)
    print(_TIMED, flush=True)
    for _ in range(KERNEL_STEPS):
        model.train_on_batch(images, labels)
    sys.stdout.flush()


def _per_image_results(times, macs=None):
    """`{name: [microseconds per image of each round]}` -> rounds and median of each (and, given `macs`, the
    multiply-accumulates per image and the GFLOP/s of the median step), for the results file."""
    results = {name: {"microseconds_per_image": [round(value, 1) for value in values],
                      "median": round(float(np.median(values)), 1)} for name, values in times.items()}
    for name, count in (macs or {}).items():
        results[name]["macs_per_image"] = count
        results[name]["gflop_per_second"] = round(6 * count / results[name]["median"] / 1e3, 1)
    return results


COMPARISONS = ("pool_padding", "batch_size", "precision", "onednn", "kernels", "batch_norm", "recipes", "widths")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # `quick` (a child of `onednn`) and `kernel_steps POLICY` (a child of `kernels`) are this script's own calls.
    parser.add_argument("comparison", nargs="?", default="pool_padding",
                        choices=(*COMPARISONS, "quick", "kernel_steps"), metavar="COMPARISON",
                        help=f"one of {', '.join(COMPARISONS)} (default: pool_padding)")
    parser.add_argument("policy", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--results", metavar="NAME",
                        help="results file name in benchmarks/results, without .json (default: "
                             "step_time-COMPARISON, which replaces the file BENCHMARKS.md cites)")
    args = parser.parse_args(argv)
    comparison = args.comparison
    if (comparison == "kernel_steps") != (args.policy is not None):
        parser.error(f"a dtype policy goes with kernel_steps only; received {comparison} {args.policy or ''}".strip())
    if comparison == "kernel_steps":  # A child of `kernels`: it prints, the parent saves.
        kernel_steps(args.policy)
        return
    if comparison == "onednn":
        results = compare_onednn()
    elif comparison == "kernels":
        results = compare_kernels()
    else:
        with contextlib.ExitStack() as fused:  # Closed before the interpreter's shutdown tears Keras down.
            results = time_candidates(comparison, fused)
    if comparison != "quick":  # `quick` runs as a child of `onednn`, which saves the medians.
        name = args.results or f"step_time-{comparison}"
        write_json(os.path.join(common.RESULTS_DIR, f"{name}.json"),
                   {**common.run_facts(), "backend": keras.backend.backend(), "results": results})


def time_candidates(comparison, fused):
    """Builds each candidate of `comparison` (fused ones inside `fused`), then times them in alternating rounds."""
    rng = np.random.default_rng(0)
    prepared, macs = {}, {}
    for name, (build, batch_size, policy) in candidates(comparison).items():
        keras.mixed_precision.set_global_policy(policy)
        model = build()
        keras.mixed_precision.set_global_policy("float32")
        macs[name] = layer_table(model).total_macs
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
                      loss="sparse_categorical_crossentropy")
        if FUSED in name:  # For the rest of the process: it switches only this model's layers.
            fused.enter_context(fused_batch_norm(model))
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
        median = np.median(values)
        print(f"{name}: {rounds} -> median {median:.1f} ({median * 0.06:.0f} s per 60,000 images; "
              f"{macs[name] / 1e6:.1f} M multiply-accumulates, {6 * macs[name] / median / 1e3:.0f} GFLOP/s)")
    return _per_image_results(times, macs)


if __name__ == "__main__":
    main(sys.argv[1:])

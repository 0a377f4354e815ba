"""Tuning benchmark (issue 5): a 60-minute search on Fashion-MNIST, Hyperband against random search.

One run is the whole job of `keras-cnns tune` on the real Fashion-MNIST
(54,000 training, 6,000 validation, 10,000 test images), within 60 minutes
of wall time on the machine it runs on, start-up included:

1. search for `--search-minutes` (default 22): the `resnet` space narrowed
   to networks that train fast on two CPU cores, so that the best one can
   still be retrained for 10 to 20 epochs (CIFAR stem, 2 or 3 stages of 1
   to 3 basic blocks, 16 base filters at width 0.75 to 1.25: at most about
   1.6 times ResNet-20's work, whose epoch over 54,000 images takes about
   90 s there), plus the learning rate, weight decay, optimizer, batch size
   and augmentation strength; each trial trains on a fixed stratified
   subset of `--trial-images` (default 12,000) and is scored on the
   validation split (Hyperband: 1 to 9 epochs; random search: 3);
2. retrain the best network on train+validation (60,000 images) for as many
   epochs as fit in `--retrain-minutes` (default 30), estimated from the
   best trial's time per image;
3. test it once on the 10,000 test images and export it (float32 and int8
   TFLite, verified).

The target: at least 93.9% test accuracy (Google AutoML's entry in the
Fashion-MNIST benchmark table, after 24 compute hours). Reported: total
minutes, trials completed and per hour, the best validation accuracy, the
test accuracy, and whether the target was met. Run it once per tuner, on an
otherwise idle machine, then compare:

    .venv/bin/python benchmarks/bench_tuning.py --tuner hyperband
    .venv/bin/python benchmarks/bench_tuning.py --tuner random
    .venv/bin/python benchmarks/bench_tuning.py --compare

Each run writes its job folder `runs/bench-tuning-<tuner>` (rerunning the
command resumes a killed run; the minutes then count both sessions'
search time but not the retraining of the killed one twice) and
`benchmarks/results/tuning-<tuner>.json`. `--quick` (digits, a one-minute
search, half a minute of retraining, no export) checks the script in about
three minutes and writes `tuning-<tuner>-quick.json`.
"""

import argparse
import datetime
import os
import platform
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_cnns.export.card import library_versions  # noqa: E402
from keras_cnns.train.atomic import read_json, write_json  # noqa: E402
from tuning import SearchConfig, run_search  # noqa: E402

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TARGET_TEST_ACCURACY = 0.939  # Google AutoML, Fashion-MNIST benchmark table.
TIME_LIMIT_MINUTES = 60
# Fast residual networks on 28x28 on two CPU cores (see the module docstring).
RESNET_SPACE = {"stems": ["cifar"], "min_stages": 2, "max_stages": 3, "max_blocks": 3,
                "base_filters": [16], "width_multipliers": [0.75, 1.0, 1.25], "block_types": ["basic"]}
FULL = dict(dataset="fashion_mnist", search_minutes=22.0, retrain_minutes=30.0, trial_images=12000,
            epochs=3, hyperband_epochs=9, export_formats=["float32", "int8"])
QUICK = dict(dataset="digits", search_minutes=1.0, retrain_minutes=0.5, trial_images=None,
             epochs=1, hyperband_epochs=3, export_formats=[])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tuner", choices=["hyperband", "random", "bayesian"], default="hyperband")
    parser.add_argument("--quick", action="store_true", help="digits and minutes: checks the script")
    parser.add_argument("--compare", action="store_true",
                        help="print the results of the runs already made, side by side")
    parser.add_argument("--search-minutes", type=float)
    parser.add_argument("--retrain-minutes", type=float)
    parser.add_argument("--trial-images", type=int)
    parser.add_argument("--out", help="job folder (default runs/bench-tuning-TUNER)")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(args.quick)

    setup = dict(QUICK if args.quick else FULL)
    for name in ("search_minutes", "retrain_minutes", "trial_images"):
        if getattr(args, name) is not None:
            setup[name] = getattr(args, name)
    suffix = "-quick" if args.quick else ""
    out_dir = args.out or os.path.join("runs", f"bench-tuning-{args.tuner}{suffix}")
    config = SearchConfig(
        space="resnet",
        dataset=setup["dataset"],
        tuner=args.tuner,
        max_trials=None,
        budget_minutes=setup["search_minutes"],
        # Hyperband trains its survivors longer; random and Bayesian trials all get `epochs`.
        epochs=setup["hyperband_epochs"] if args.tuner == "hyperband" else setup["epochs"],
        trial_images=setup["trial_images"],
        space_kwargs=RESNET_SPACE,
        retrain_minutes=setup["retrain_minutes"],
        export_formats=setup["export_formats"],
        out_dir=out_dir,
    )
    start = time.monotonic()
    result = run_search(config, verbose=2)
    minutes = (time.monotonic() - start) / 60
    summary = result.summary
    report = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "machine": machine_description(),
        "tuner": args.tuner,
        "dataset": setup["dataset"],
        "setup": setup,
        "space": {"name": "resnet", **RESNET_SPACE},
        "total_minutes": minutes,
        "within_time_limit": minutes <= TIME_LIMIT_MINUTES,
        "search_minutes": summary["search_seconds"] / 60,
        "trials": summary["trials"],
        "completed": summary["completed"],
        "failed": summary["failed"],
        "trials_per_hour": summary["trials_per_hour"],
        "best_trial": summary["best_trial"],
        "best_val_accuracy": summary["best_val_accuracy"],
        "best_hyperparameters": summary["best_hyperparameters"],
        "retrained_epochs": summary["retrained_epochs"],
        "test_accuracy": result.test_accuracy,
        "target_test_accuracy": TARGET_TEST_ACCURACY,
        "target_met": result.test_accuracy >= TARGET_TEST_ACCURACY,
        "out_dir": out_dir,
    }
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"tuning-{args.tuner}{suffix}.json")
    write_json(path, report)
    print(f"\n{args.tuner}: {report['completed']} trials in {report['search_minutes']:.1f} min of search "
          f"({report['trials_per_hour']:.1f} per hour), best validation {report['best_val_accuracy']:.4f}; "
          f"retrained {report['retrained_epochs']} epochs; test accuracy {report['test_accuracy']:.4f} "
          f"(target {TARGET_TEST_ACCURACY}: {'met' if report['target_met'] else 'NOT met'}); "
          f"{minutes:.1f} min in all (limit {TIME_LIMIT_MINUTES}). Written to {path}.")
    return 0


def compare(quick):
    suffix = "-quick" if quick else ""
    rows = []
    for tuner in ("hyperband", "random", "bayesian"):
        report = read_json(os.path.join(RESULTS_DIR, f"tuning-{tuner}{suffix}.json"))
        if report is not None:
            rows.append(report)
    if not rows:
        raise SystemExit(f"No results in {RESULTS_DIR}; run the benchmark first (see --help).")
    print(f"{'tuner':<10} {'minutes':>7} {'trials':>6} {'per hour':>8} {'best val':>8} {'epochs':>6} "
          f"{'test acc':>8}  target")
    for r in rows:
        print(f"{r['tuner']:<10} {r['total_minutes']:>7.1f} {r['completed']:>6} {r['trials_per_hour']:>8.1f} "
              f"{r['best_val_accuracy']:>8.4f} {r['retrained_epochs']:>6} {r['test_accuracy']:>8.4f}  "
              f"{'met' if r['target_met'] else 'not met'}")
    return 0


def machine_description():
    cpu = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(), **library_versions()}


if __name__ == "__main__":
    sys.exit(main())

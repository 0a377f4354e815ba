"""Transfer benchmark (issue 6): fine-tuning against training from scratch, on a few hundred labels.

The lectures' small-data scenario with real data:

1. Pretrain: `--model` (default ResNet-20) on five Fashion-MNIST classes
   (`--pretrain-classes`, default 0-4: T-shirt/top, Trouser, Pullover, Dress,
   Coat), all 30,000 of their training images (10% held out for
   validation), with the family's default recipe, `--pretrain-epochs`.
2. For each seed: the other five classes (Sandal, Shirt, Sneaker, Bag, Ankle
   boot) from `--limit` labelled images (default 500; 10% of them for
   validation), chosen by the seed:
   * fine-tuning (`keras_cnns.transfer.fine_tune`): new head trained for
     `--head-epochs` on the frozen backbone, then the top `--unfreeze-blocks`
     blocks too for `--fine-tune-epochs` at a tenth of the learning rate;
   * training the same network from scratch on the same images, with the
     family's default recipe, for as many epochs in all
     (`--scratch-epochs`, default head + fine-tune epochs).
3. Test accuracy of each on all 5,000 test images of the five new classes;
   mean and standard deviation over the seeds.

Every run is a run directory under `--work-dir`, so an interrupted benchmark
resumes where it stopped. Run the full benchmark on an otherwise idle machine:

    .venv/bin/python benchmarks/bench_transfer.py

`--quick` (half-width network, 3,000 pretraining images, 100 labels, two
seeds, few epochs) checks the script in a few minutes; its numbers mean
little. Results go to `benchmarks/results/transfer.json`
(`transfer_quick.json` for `--quick`).
"""

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_cnns  # noqa: E402,F401  (before Keras: it asks TensorFlow for its oneDNN kernels)
import keras  # noqa: E402

from keras_cnns.train import default_config, train  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402
from keras_cnns.transfer import fine_tune  # noqa: E402

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
ALL_CLASSES = list(range(10))

FULL = dict(pretrain_limit=None, pretrain_epochs=10, limit=500, seeds=5, head_epochs=20, fine_tune_epochs=20,
            unfreeze_blocks=3, batch_size=32, model_kwargs={})
QUICK = dict(pretrain_limit=3000, pretrain_epochs=2, limit=100, seeds=2, head_epochs=5, fine_tune_epochs=3,
             unfreeze_blocks=3, batch_size=16, model_kwargs={"width_multiplier": 0.5})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and short: checks the script")
    parser.add_argument("--model", default="resnet20", help="registered network (default resnet20)")
    parser.add_argument("--pretrain-classes", default="0,1,2,3,4", help="labels to pretrain on")
    parser.add_argument("--pretrain-epochs", type=int)
    parser.add_argument("--limit", type=int, help="labelled images of the new classes (default 500)")
    parser.add_argument("--seeds", type=int, help="seeds (default 5)")
    parser.add_argument("--head-epochs", type=int)
    parser.add_argument("--fine-tune-epochs", type=int)
    parser.add_argument("--scratch-epochs", type=int, help="default: head + fine-tune epochs")
    parser.add_argument("--unfreeze-blocks", type=int)
    parser.add_argument("--work-dir", help="where the runs go (default runs/bench_transfer[_quick])")
    args = parser.parse_args(argv)

    setup = dict(QUICK if args.quick else FULL)
    for key in ("pretrain_epochs", "limit", "seeds", "head_epochs", "fine_tune_epochs", "unfreeze_blocks"):
        if getattr(args, key) is not None:
            setup[key] = getattr(args, key)
    scratch_epochs = args.scratch_epochs or setup["head_epochs"] + setup["fine_tune_epochs"]
    pretrain_classes = [int(c) for c in args.pretrain_classes.split(",")]
    target_classes = [c for c in ALL_CLASSES if c not in pretrain_classes]
    work = args.work_dir or os.path.join("runs", "bench_transfer_quick" if args.quick else "bench_transfer")
    data = dict(dataset="fashion_mnist", batch_size=setup["batch_size"])

    started = time.perf_counter()
    pretrain = train(default_config(args.model, classes=pretrain_classes, limit=setup["pretrain_limit"],
                                    epochs=setup["pretrain_epochs"], model_kwargs=setup["model_kwargs"],
                                    out_dir=os.path.join(work, "pretrain"), **data), verbose=2)
    pretrain_seconds = time.perf_counter() - started
    print(f"Pretrained {args.model} on classes {pretrain_classes}: test accuracy "
          f"{pretrain.test_accuracy:.4f} ({pretrain.metrics['num_train']} training images)", flush=True)

    rows = []
    for seed in range(setup["seeds"]):
        small = dict(data, classes=target_classes, limit=setup["limit"], seed=seed)
        began = time.perf_counter()
        tuned = fine_tune(source=pretrain.out_dir, head_epochs=setup["head_epochs"],
                          fine_tune_epochs=setup["fine_tune_epochs"], unfreeze_blocks=setup["unfreeze_blocks"],
                          out_dir=os.path.join(work, f"finetune_seed{seed}"), verbose=0, **small)
        middle = time.perf_counter()
        scratch = train(default_config(args.model, epochs=scratch_epochs, model_kwargs=setup["model_kwargs"],
                                       out_dir=os.path.join(work, f"scratch_seed{seed}"), **small), verbose=0)
        rows.append({
            "seed": seed,
            "fine_tune": tuned.test_accuracy,
            "fine_tune_head_only": tuned.metrics["fine_tune"]["phases"][0]["test_accuracy"],
            "scratch": scratch.test_accuracy,
            "fine_tune_seconds": middle - began,
            "scratch_seconds": time.perf_counter() - middle,
        })
        print(f"seed {seed}: fine-tuning {tuned.test_accuracy:.4f} (head only "
              f"{rows[-1]['fine_tune_head_only']:.4f}), from scratch {scratch.test_accuracy:.4f}", flush=True)

    summary = {key: _mean_and_std([row[key] for row in rows])
               for key in ("fine_tune", "fine_tune_head_only", "scratch")}
    results = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPU threads, {keras.backend.backend()} backend",
        "model": args.model,
        "model_kwargs": setup["model_kwargs"],
        "pretrain": {"classes": pretrain_classes, "num_train": pretrain.metrics["num_train"],
                     "num_val": pretrain.metrics["num_val"], "epochs": setup["pretrain_epochs"],
                     "test_accuracy": pretrain.test_accuracy, "seconds": pretrain_seconds},
        "target": {"classes": target_classes, "labelled_images": setup["limit"],
                   "num_test": tuned.metrics["num_test"]},
        "fine_tune": {"head_epochs": setup["head_epochs"], "fine_tune_epochs": setup["fine_tune_epochs"],
                      "unfreeze_blocks": setup["unfreeze_blocks"]},
        "scratch_epochs": scratch_epochs,
        "runs": rows,
        "summary": summary,
    }
    path = os.path.join(RESULTS_DIR, "transfer_quick.json" if args.quick else "transfer.json")
    write_json(path, results)
    print("\n| | test accuracy, mean ± std over "
          f"{len(rows)} seeds |\n| --- | --- |")
    for key, label in (("fine_tune", "fine-tuned"), ("fine_tune_head_only", "new head only"),
                       ("scratch", "from scratch")):
        print(f"| {label} | {summary[key]['mean']:.4f} ± {summary[key]['std']:.4f} |")
    print(f"\nWrote {path}")
    return 0


def _mean_and_std(values):
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


if __name__ == "__main__":
    sys.exit(main())

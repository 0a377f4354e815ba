"""Export benchmark (issue 4): size, accuracy and speed of each TFLite format, and where int8's speed comes from.

In one run, on one model:

1. `formats`: `export_model` to SavedModel, float32, float16, dynamic-range
   and int8 TFLite, verified on the test set: file size, test accuracy, top-1
   agreement with Keras.
2. `goals`: int8 at least 3.5x smaller than float32, at most 0.3 points less
   test accuracy, and faster than float32 at batch 1.
3. `int8 study`: milliseconds per image of float32 and three int8 variants
   (the shipped one: int8 input/output tensors and per-channel weights; float
   input/output, i.e. QUANTIZE/DEQUANTIZE ops at the edges; per-tensor
   weights), at 1 and 2 threads and batch 1, 8 and 32, with LiteRT's default
   XNNPACK delegate, and at batch 1 without it; plus the number of XNNPACK
   partitions of each file.
4. `single image`: one image through a direct Keras call, `model.predict`,
   the SavedModel's serving signature, the float32 and int8 TFLite files,
   and `TFLiteClassifier.predict` (int8, preprocessing included).

Run on an otherwise idle machine, on the trained ResNet's run directory:

    .venv/bin/python benchmarks/bench_export.py --run-dir runs/resnet20-fashion_mnist

Without `--run-dir` it builds `--model` (default resnet20 at 28x28x1) with
untrained weights, calibrated and timed on real Fashion-MNIST images:
sizes and speeds hold, accuracies do not. `--quick` (LeNet-5 unless a run
directory is given, few timed runs, 500 test images) checks the script in a
minute or two. Results go to `benchmarks/results/export.json`
(`export_quick.json` for `--quick`).

`--mobile-parts` only times making the two mobile files (`mobile_float32`
and `mobile_int8`) apart, with two `convert_mobile` calls, against from one
`MobileParts` (the photo preparation converted and the network's
SavedModel written once), in alternating rounds
(`export_mobile_parts.json`).
"""

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras_cnns  # noqa: E402,F401  (before Keras: it asks TensorFlow for its oneDNN kernels)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import common  # noqa: E402  (benchmarks/common.py)

from keras_cnns.data import denormalize, load_dataset  # noqa: E402
from keras_cnns.export import convert_to_tflite, export_model, measure_latency, measure_tflite_latency  # noqa: E402
from keras_cnns.export.mobile import MobileParts, convert_mobile  # noqa: E402
from keras_cnns.export.source import resolve_source, take_examples  # noqa: E402
from keras_cnns.inference import TFLiteClassifier, TFLiteRunner  # noqa: E402
from keras_cnns.train.atomic import write_json  # noqa: E402

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
FORMATS = ("saved_model", "float32", "float16", "dynamic", "int8")
CALIBRATION_SIZE = 300
# The targets.
MIN_SIZE_RATIO = 3.5
MAX_ACCURACY_DROP_POINTS = 0.3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", help="trained run directory (accuracies are meaningful)")
    parser.add_argument("--model", help="registered model to build untrained when no run directory "
                                        "(default resnet20; lenet5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few runs and images: checks the script")
    parser.add_argument("--repeats", type=int, help="passes over the latency matrix (median taken)")
    parser.add_argument("--mobile-parts", action="store_true",
                        help="only time the two mobile files made apart against made from shared parts")
    args = parser.parse_args(argv)

    quick = args.quick
    setup = Setup(quick=quick, repeats=args.repeats or (1 if quick else 3))
    source = load_model_and_data(args.run_dir, args.model or ("lenet5" if quick else "resnet20"), setup)
    if args.mobile_parts:
        return mobile_parts_study(source, rounds=1 if quick else 3)
    results = {
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "date": datetime.date.today().isoformat(),
        "machine": common.machine_description(),
        "model": source.architecture,
        "trained": args.run_dir is not None,
        "test_images": len(source.test_images),
    }
    with tempfile.TemporaryDirectory(prefix="bench_export_") as folder:
        report = export_model(
            source.model, os.path.join(folder, "export"), formats=FORMATS,
            representative_data=source.calibration, test_data=(source.test_images, source.test_labels),
            labels=source.class_names, normalization=source.normalization, min_quantized_agreement=None,
            max_quantized_accuracy_drop=None, measure_latency=False,
        )
        results["formats"] = format_rows(report)
        files = int8_variants(report, source, folder)
        results["int8_study"] = latency_study(files, setup)
        results["xnnpack_partitions"] = {name: partitions(path) for name, path in files.items()}
        results["single_image"] = single_image_latency(source, report, setup)
    results["goals"] = goals(results)
    print_tables(results)
    path = os.path.join(RESULTS_DIR, "export_quick.json" if quick else "export.json")
    write_json(path, results)
    print(f"\nwrote {path}")
    return 0


class Setup:
    """How much to measure: threads, batch sizes, runs."""

    def __init__(self, quick, repeats):
        self.quick = quick
        self.repeats = repeats
        self.threads = (1, 2)
        self.batches = (1, 8) if quick else (1, 8, 32)
        self.test_limit = 500 if quick else None

    def runs(self, batch):
        return 10 if self.quick else max(30, 1200 // batch)


def load_model_and_data(run_dir, model_name, setup):
    """The model, its calibration and test images, from a run or an untrained build."""
    if run_dir is not None:
        source = resolve_source(run_dir, calibration_size=CALIBRATION_SIZE, need_calibration=True,
                                need_test=True, verbose=1)
    else:
        size = max(28, keras_cnns.model_info(model_name).min_input_size)
        try:
            bundle = load_dataset("fashion_mnist", image_size=size, augment=None, batch_size=500,
                                  limit=5000 if setup.quick else None)
        except (ValueError, RuntimeError):
            bundle = load_dataset("digits", image_size=size, augment=None, batch_size=500)
        keras.utils.set_random_seed(0)
        model = keras_cnns.get_model(model_name, input_shape=bundle.image_shape, classes=bundle.num_classes)
        source = resolve_source(model, labels=bundle.class_names, normalization=bundle.normalization,
                                representative_data=take_examples(bundle.train)[0][:CALIBRATION_SIZE],
                                test_data=bundle.test)
    if setup.test_limit:
        source.test_images = source.test_images[: setup.test_limit]
        source.test_labels = None if source.test_labels is None else source.test_labels[: setup.test_limit]
    return source


def mobile_parts_study(source, rounds):
    """Seconds to make `mobile_float32` and `mobile_int8`: two `convert_mobile` calls against one `MobileParts`.

    Alternating rounds in one process; writes `export_mobile_parts.json`.
    """
    image_shape = tuple(source.model.input_shape[1:])
    options = dict(image_shape=image_shape, normalization=source.normalization)

    def apart():
        convert_mobile(source.model, "float32", **options)
        convert_mobile(source.model, "int8", calibration=source.calibration, **options)

    def shared():
        with tempfile.TemporaryDirectory(prefix="bench_export_") as folder:
            parts = MobileParts(source.model, folder, **options)
            parts.convert("float32")
            parts.convert("int8", source.calibration)

    seconds = {"apart (convert_mobile twice)": [], "shared (MobileParts)": []}
    for _ in range(rounds):
        for label, make in zip(seconds, (apart, shared)):
            start = time.perf_counter()
            make()
            seconds[label].append(round(time.perf_counter() - start, 2))
    results = {"command": " ".join([os.path.basename(sys.executable), *sys.argv]),
               "date": datetime.date.today().isoformat(), "machine": common.machine_description(),
               "model": source.architecture, "seconds": seconds,
               "median_seconds": {label: statistics.median(values) for label, values in seconds.items()}}
    for label, values in seconds.items():
        print(f"{label}: {values} s, median {statistics.median(values):.1f} s")
    path = os.path.join(RESULTS_DIR, "export_mobile_parts.json")
    write_json(path, results)
    print(f"\nwrote {path}")
    return 0


def format_rows(report):
    rows = []
    for result in report.results:
        rows.append({"format": result.format, "size_bytes": result.size_bytes, "accuracy": result.accuracy,
                     "agreement": result.agreement, "max_abs_diff": result.max_abs_diff,
                     "verified": result.passed})
    rows.insert(0, {"format": "keras", "accuracy": report.keras.get("accuracy")})
    return rows


def int8_variants(report, source, folder):
    """The shipped float32 and int8 files, and two int8 variants converted for comparison."""
    saved_model = report.path("saved_model")
    files = {"float32": report.path("float32"), "int8": report.path("int8")}
    for name, options in (("int8, float32 in/out", dict(integer_io=False)),
                          ("int8, per-tensor", dict(per_channel=False))):
        content = convert_to_tflite(saved_model, "int8", representative_data=source.calibration,
                                    normalization=source.normalization, **options)
        path = os.path.join(folder, name.replace(",", "").replace(" ", "_").replace("/", "") + ".tflite")
        with open(path, "wb") as file:
            file.write(content)
        files[name] = path
    return files


def latency_study(files, setup):
    """ms/image of each file at each (threads, batch), XNNPACK on, and at batch 1 with XNNPACK off."""
    cases = [(threads, batch, True) for threads in setup.threads for batch in setup.batches] + [(1, 1, False)]
    timings = {(name, case): [] for name in files for case in cases}
    for _ in range(setup.repeats):
        for case in cases:
            threads, batch, xnnpack = case
            for name, path in files.items():  # Interleaved, so drifts hit every file alike.
                timings[name, case].append(measure_tflite_latency(
                    path, num_threads=threads, batch_size=batch, runs=setup.runs(batch), xnnpack=xnnpack))
    return [{"file": name, "threads": case[0], "batch": case[1], "xnnpack": case[2],
             "ms_per_image": statistics.median(values)} for (name, case), values in timings.items()]


def partitions(path):
    return TFLiteRunner(path).operators().count("DELEGATE")


def single_image_latency(source, report, setup):
    model, image = source.model, source.test_images[:1]
    runs = 10 if setup.quick else 200
    serve = tf.saved_model.load(report.path("saved_model")).signatures["serving_default"]
    image_tensor = tf.constant(image)
    classifier = TFLiteClassifier(report.out_dir, format="int8")
    pixels = np.clip(np.rint(denormalize(image, source.normalization)), 0, 255).astype(np.uint8)
    cases = {
        "Keras, direct call model(x)": lambda: model(image, training=False),
        "Keras, model.predict(x)": lambda: model.predict(image, verbose=0),
        "SavedModel serving signature": lambda: serve(image_tensor),
    }
    rows = [{"path": name, "ms": measure_latency(call, runs=runs if "predict" not in name else max(5, runs // 4))}
            for name, call in cases.items()]
    for format in ("float32", "int8"):
        rows.append({"path": f"TFLite {format} (1 thread)",
                     "ms": measure_tflite_latency(report.path(format), runs=runs)})
    rows.append({"path": "TFLiteClassifier.predict, int8, with preprocessing",
                 "ms": measure_latency(lambda: classifier.predict(pixels), runs=runs)})
    return rows


def goals(results):
    formats = {row["format"]: row for row in results["formats"]}
    ratio = formats["float32"]["size_bytes"] / formats["int8"]["size_bytes"]
    checks = {"size_ratio_float32_over_int8": ratio, "size_ratio_ok": ratio >= MIN_SIZE_RATIO}
    if results["trained"] and formats["float32"]["accuracy"] is not None:
        drop = (formats["float32"]["accuracy"] - formats["int8"]["accuracy"]) * 100
        checks.update(accuracy_drop_points=drop, accuracy_drop_ok=drop <= MAX_ACCURACY_DROP_POINTS)
    study = {(row["file"], row["threads"], row["batch"], row["xnnpack"]): row["ms_per_image"]
             for row in results["int8_study"]}
    checks.update(
        int8_ms_batch1=study["int8", 1, 1, True], float32_ms_batch1=study["float32", 1, 1, True],
        int8_faster_at_batch1=study["int8", 1, 1, True] < study["float32", 1, 1, True],
    )
    return checks


def print_tables(results):
    print(f"\n{results['model'].get('model')} ({results['model']['num_params']:,} parameters), "
          f"{'trained' if results['trained'] else 'UNTRAINED (accuracies meaningless)'}, "
          f"{results['test_images']} test images; {results['machine']['cpu']}")
    print("\nformat       size KiB   accuracy  agreement  verified")
    for row in results["formats"]:
        size = f"{row['size_bytes'] / 1024:9.1f}" if "size_bytes" in row else "        -"
        print(f"{row['format']:<12} {size}  {_fmt(row.get('accuracy'))}  {_fmt(row.get('agreement'))}   "
              f"{row.get('verified', '')}")
    print("\nms per image (median)          " + "  ".join(
        f"{'t' + str(t) + ' b' + str(b):>8}" for t, b in sorted({(r['threads'], r['batch']) for r in results['int8_study'] if r['xnnpack']})
    ) + "  no-XNNPACK t1 b1  partitions")
    for name in dict.fromkeys(row["file"] for row in results["int8_study"]):
        rows = [row for row in results["int8_study"] if row["file"] == name]
        with_xnnpack = sorted((r for r in rows if r["xnnpack"]), key=lambda r: (r["threads"], r["batch"]))
        without = next(r for r in rows if not r["xnnpack"])
        print(f"{name:<30} " + "  ".join(f"{r['ms_per_image']:8.3f}" for r in with_xnnpack)
              + f"  {without['ms_per_image']:16.3f}  {results['xnnpack_partitions'][name]:10d}")
    print("\nsingle image                                          ms")
    for row in results["single_image"]:
        print(f"{row['path']:<52} {row['ms']:7.3f}")
    print("\ngoals: " + ", ".join(f"{key}={_fmt(value)}" for key, value in results["goals"].items()))


def _fmt(value):
    if value is None:
        return "      -"
    if isinstance(value, bool):
        return str(value)
    return f"{value:7.4f}"


if __name__ == "__main__":
    sys.exit(main())

"""Commands about export and inference: `export`, `predict`."""

import shlex

from keras_cnns.export import verify
from keras_cnns.export.formats import DEFAULT_FORMATS, FORMATS
from keras_cnns.cli.args import add_tta_option, tta_setting

FORMAT_NAMES = tuple(FORMATS)
TFLITE_FORMAT_NAMES = [name for name, entry in FORMATS.items() if entry.file.endswith(".tflite")]


def _command_export(args):
    from keras_cnns.export import export_model

    formats = [part.strip() for part in args.formats.split(",") if part.strip()]
    report = export_model(
        args.model,
        args.out,
        formats=formats,
        allow_flex_ops=args.allow_flex_ops,
        verify=not args.no_verify,
        calibration_size=args.calibration_size,
        fold_normalization=args.fold_normalization,
        **quantized_tolerances(args),
        num_threads=args.threads,
        tta=tta_setting(args.tta),
        name=args.name,
        command=_export_command(args),
        verbose=1,
    )
    print(f"\nExported {', '.join(report.formats)} to {report.out_dir} "
          f"(model_card.json, export_report.json).")
    return 0


def add_quantized_tolerance_options(parser):
    """The options that bound what the quantized files may lose against Keras (`export`, `tune --export`)."""
    agreement, drop = verify.DEFAULT_MIN_QUANTIZED_AGREEMENT, verify.DEFAULT_MAX_QUANTIZED_ACCURACY_DROP
    parser.add_argument("--min-quantized-agreement", type=float, default=agreement,
                        help=f"least top-1 agreement with Keras for int8/dynamic (default {agreement}; -1: report "
                             "only)")
    parser.add_argument("--max-quantized-accuracy-drop", type=float, default=drop,
                        help="most test accuracy int8/dynamic may lose against Keras, as a fraction "
                             f"(default {drop}: {drop * 100:g} points; -1: report only)")


def quantized_tolerances(args):
    """`export_model`'s two tolerances from the options of `add_quantized_tolerance_options` (-1: None)."""
    return {"min_quantized_agreement": None if args.min_quantized_agreement < 0 else args.min_quantized_agreement,
            "max_quantized_accuracy_drop": (None if args.max_quantized_accuracy_drop < 0
                                            else args.max_quantized_accuracy_drop)}


def _export_command(args):
    """The export command line, every option spelled out, as the card records it."""
    words = ["keras-cnns", "export", args.model, "--out", args.out, "--formats", args.formats,
             "--calibration-size", str(args.calibration_size),
             "--min-quantized-agreement", str(args.min_quantized_agreement),
             "--max-quantized-accuracy-drop", str(args.max_quantized_accuracy_drop)]
    for flag, value in (("--threads", args.threads), ("--tta", args.tta), ("--name", args.name)):
        if value is not None:
            words += [flag, str(value)]
    for flag, on in (("--fold-normalization", args.fold_normalization),
                     ("--allow-flex-ops", args.allow_flex_ops), ("--no-verify", args.no_verify)):
        if on:
            words.append(flag)
    return shlex.join(words)


def _command_predict(args):
    from keras_cnns.inference import TFLiteClassifier

    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        raise ValueError(
            f"--min-confidence must be a probability in [0, 1]; received {args.min_confidence}. Pass for example "
            "--min-confidence 0.6."
        )
    classifier = TFLiteClassifier(args.model, format=args.format, num_threads=args.threads)
    predictions = classifier.classify(list(args.images), k=args.top_k, min_confidence=args.min_confidence)
    width = max(len(path) for path in args.images)
    for path, prediction in zip(args.images, predictions):
        line = "  ".join(f"{label} {probability:.3f}" for label, probability in prediction.top_k)
        if prediction.unsure:
            line = f"unsure (below {args.min_confidence:g}): {line}"
        notes = f"  [{', '.join(prediction.notes)}]" if prediction.notes else ""
        print(f"{path:<{width}}  {line}{notes}")
    return 0


def register(commands):
    """Adds `export` and `predict` to the sub-command parsers."""
    export = commands.add_parser(
        "export", help="export a trained model to SavedModel and TFLite, verified",
        description="Exports a run directory (or a .keras file) as a SavedModel and TFLite files, runs each "
                    "on the run's held-out test images and compares it with the Keras model (float formats "
                    "within 1e-4, quantized ones by top-1 agreement and accuracy drop), then writes "
                    "model_card.json (SHA-256 of every file) and export_report.json. A file that fails "
                    "verification is an error and nothing is written. int8 is calibrated on the run's "
                    "training images.",
        epilog="Example: keras-cnns export runs/resnet20-fashion_mnist --out exports/resnet20-fashion_mnist",
    )
    export.add_argument("model", help="a run directory written by `keras-cnns train`, or a .keras file in one")
    export.add_argument("--out", required=True, help="export folder (new, empty, or an earlier export)")
    export.add_argument("--formats", default=",".join(DEFAULT_FORMATS),
                        help=f"comma-separated, of: {', '.join(FORMAT_NAMES)} (default: {','.join(DEFAULT_FORMATS)}); "
                             "mobile_* are the files MediaPipe's ImageClassifier runs as they are")
    export.add_argument("--calibration-size", type=int, default=300,
                        help="int8 calibration images, drawn at random from the training split (default 300)")
    export.add_argument("--fold-normalization", action="store_true",
                        help="put the input normalization into the graphs (inputs become raw 0..255 pixels)")
    export.add_argument("--allow-flex-ops", action="store_true",
                        help="allow TensorFlow (flex) ops the LiteRT built-ins lack")
    export.add_argument("--no-verify", action="store_true", help="skip running and comparing the files")
    add_quantized_tolerance_options(export)
    export.add_argument("--threads", type=int, help="LiteRT interpreter threads (default 1)")
    add_tta_option(export, "test-time augmentation inside every file: average over the image and its mirror "
                           "image (flip), and also one-pixel shifts of both (flip_shift); latency grows with "
                           "the views")
    export.add_argument("--name", help="model name for the card (default: the folder name)")
    export.set_defaults(run=_command_export)

    predict = commands.add_parser(
        "predict", help="classify image files with an exported TFLite model",
        description="Classifies image files (PNG, JPEG, ...; any size, gray or colour) with a .tflite file or "
                    "an export folder (e.g. saved_models/NAME), using the class names and preprocessing of "
                    "its model card, and prints the top classes with their probabilities per image.",
        epilog="Example: keras-cnns predict saved_models/lenet5_fashion_mnist shoe.jpg shirt.png --top-k 3",
    )
    predict.add_argument("model", help="a .tflite file or an export folder with model_card.json")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    predict.add_argument("--top-k", type=int, default=3, help="classes to print per image (default 3)")
    predict.add_argument("--format", choices=TFLITE_FORMAT_NAMES,
                         help="which file of an export folder (default: int8 if exported, else float32)")
    predict.add_argument("--min-confidence", type=float, metavar="P",
                         help="answer 'unsure' for an image whose most probable class is below P (0 to 1; the "
                              "probabilities are calibrated)")
    predict.add_argument("--threads", type=int, help="LiteRT interpreter threads (default 1)")
    predict.set_defaults(run=_command_predict, light=True)

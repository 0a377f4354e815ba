"""The `keras-cnns` command line (also `python -m keras_cnns`)."""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parse_shape(text):
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH,CHANNELS such as 32,32,1; received {text!r}")
    return shape


def _command_models(args):
    import keras_cnns

    names = keras_cnns.list_models(args.pattern)
    if not names:
        print(f"No registered model matches {args.pattern!r}.", file=sys.stderr)
        return 1
    header = f"{'name':<11} {'parameters':>13}  {'default input':<14} {'min':>4}  {'ImageNet':<8}  paper"
    print(header)
    print("-" * len(header))
    for name in names:
        info = keras_cnns.model_info(name)
        shape = "x".join(str(d) for d in info.default_input_shape)
        print(f"{name:<11} {info.num_params:>13,}  {shape:<14} {info.min_input_size:>4}  "
              f"{'yes' if info.imagenet_weights else '':<8}  {info.paper}")
    return 0


def _build_for_summary(args):
    import keras_cnns

    kwargs = {}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    if args.classes:
        kwargs["classes"] = args.classes
    return keras_cnns.get_model(args.model, **kwargs)


def _command_summary(args):
    model = _build_for_summary(args)
    model.summary(line_length=110)
    return 0


def _command_tour(args):
    """Builds every registered network and prints its summary and size."""
    import keras
    import keras_cnns

    names = keras_cnns.list_models(args.pattern)
    progress = keras.utils.Progbar(len(names), unit_name="model")
    rows = []
    for i, name in enumerate(names):
        info = keras_cnns.model_info(name)
        model = keras_cnns.get_model(name)
        if args.summaries:
            print()
            model.summary(line_length=110)
        rows.append((name, model.count_params(), len(model.layers), info.default_input_shape, info.paper))
        keras.backend.clear_session()
        progress.update(i + 1)
    print(f"\n{'name':<11} {'parameters':>13} {'layers':>7}  {'input':<12} paper")
    for name, params, layers, shape, paper in rows:
        print(f"{name:<11} {params:>13,} {layers:>7}  {'x'.join(map(str, shape)):<12} {paper}")
    print(f"\nBuilt {len(rows)} networks on the {keras.backend.backend()} backend.")
    return 0


def _command_train(args):
    import json

    from keras_cnns.train import default_config, train

    overrides = {
        key: value
        for key, value in {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": args.optimizer,
            "learning_rate": args.lr,
            "weight_decay": args.weight_decay,
            "schedule": args.schedule,
            "label_smoothing": args.label_smoothing,
            "seed": args.seed,
            "limit": args.limit,
            "data_dir": args.data_dir,
            "out_dir": args.out,
        }.items()
        if value is not None
    }
    if args.no_augment:
        overrides["augment"] = None
    if args.model_kwargs:
        overrides["model_kwargs"] = json.loads(args.model_kwargs)
    config = default_config(args.model, args.dataset, **overrides)
    result = train(config, overwrite=args.overwrite)
    metrics = result.metrics
    print(f"\nTest accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}) after "
          f"{metrics['epochs_run']} epochs; run directory: {result.out_dir}")
    return 0


def _command_evaluate(args):
    from keras_cnns.train import evaluate

    metrics = evaluate(args.run_dir)
    print(f"Test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f})")
    for name, accuracy in metrics["per_class_accuracy"].items():
        print(f"  {name:<14} {'-' if accuracy is None else f'{accuracy:.4f}'}")
    return 0


def build_parser():
    """The argument parser of `keras-cnns`; every command has --help with an example."""
    parser = argparse.ArgumentParser(
        prog="keras-cnns",
        description="Classic convolutional networks for Keras 3: build, inspect, train.",
        epilog="Example: keras-cnns models 'resnet*'",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser(
        "models", help="table of the registered networks",
        description="Lists the registered networks: parameters, default input, minimum size, paper.",
        epilog="Example: keras-cnns models 'vgg*'",
    )
    models.add_argument("pattern", nargs="?", default="*", help="glob pattern over names (default: all)")
    models.set_defaults(run=_command_models)

    summary = commands.add_parser(
        "summary", help="layer-by-layer summary of one network",
        description="Builds one registered network and prints its layers, output shapes and parameters.",
        epilog="Example: keras-cnns summary resnet20 --input-shape 28,28,1 --classes 10",
    )
    summary.add_argument("model", help="a registered name (see `keras-cnns models`)")
    summary.add_argument("--input-shape", type=_parse_shape, help="HEIGHT,WIDTH,CHANNELS (default: the model's)")
    summary.add_argument("--classes", type=int, help="number of classes (default: the model's)")
    summary.set_defaults(run=_command_summary)

    tour = commands.add_parser(
        "tour", help="build every network and print its size",
        description="The model-zoo tour: builds each registered network at its default size and "
                    "prints its parameter count (and, with --summaries, its layers).",
        epilog="Example: keras-cnns tour --summaries 'resnet*'",
    )
    tour.add_argument("pattern", nargs="?", default="*", help="glob pattern over names (default: all)")
    tour.add_argument("--summaries", action="store_true", help="print every model's summary too")
    tour.set_defaults(run=_command_tour)

    train = commands.add_parser(
        "train", help="train a network on a dataset",
        description="Trains a registered network with the family's default recipe and writes a run "
                    "directory: config.json, history.csv, best.keras, metrics.json, plots, TensorBoard "
                    "logs. Rerunning the same command after an interruption resumes the run.",
        epilog="Example: keras-cnns train resnet20 --dataset fashion_mnist --epochs 10 --out runs/r20",
    )
    train.add_argument("model", help="a registered name (see `keras-cnns models`)")
    train.add_argument("--dataset", default="fashion_mnist",
                       help="fashion_mnist, digits, mnist, cifar10, ... or an image-folder path")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--optimizer", choices=["sgd", "adam", "adamw"])
    train.add_argument("--lr", type=float, help="peak learning rate")
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--schedule", choices=["cosine", "onecycle", "step", "constant"])
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--seed", type=int)
    train.add_argument("--limit", type=int, help="use only this many training images")
    train.add_argument("--data-dir", help="where the dataset's files are")
    train.add_argument("--no-augment", action="store_true", help="turn data augmentation off")
    train.add_argument("--model-kwargs", help='builder knobs as JSON, e.g. \'{"width_multiplier": 2}\'')
    train.add_argument("--out", help="run directory (default: runs/MODEL-DATASET)")
    train.add_argument("--overwrite", action="store_true", help="start over in an existing run directory")
    train.set_defaults(run=_command_train)

    evaluate = commands.add_parser(
        "evaluate", help="evaluate a run's best model on its test set",
        description="Reloads RUN_DIR/best.keras and its dataset and prints the test accuracy per class.",
        epilog="Example: keras-cnns evaluate runs/r20",
    )
    evaluate.add_argument("run_dir", help="a run directory written by `keras-cnns train`")
    evaluate.set_defaults(run=_command_evaluate)
    return parser


def main(argv=None):
    """Entry point of the `keras-cnns` command."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"keras-cnns {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

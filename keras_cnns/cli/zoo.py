"""Commands about the model zoo: `models`, `summary`, `tour`."""

import sys

from keras_cnns.cli.args import parse_shape


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
    import os

    import keras_cnns

    if os.path.exists(args.model):
        given = [flag for flag, value in (("--input-shape", args.input_shape), ("--classes", args.classes)) if value]
        if given:
            raise ValueError(
                f"{' and '.join(given)} build a registered network at that shape; {args.model} is a trained model, "
                "whose shape and classes are its own. Leave them out, or pass a registered name."
            )
        from keras_cnns.inspect import load_trained

        return load_trained(args.model).model
    kwargs = {}
    if args.input_shape:
        kwargs["input_shape"] = args.input_shape
    if args.classes:
        kwargs["classes"] = args.classes
    return keras_cnns.get_model(args.model, **kwargs)


def _command_summary(args):
    from keras_cnns.inspect import layer_table

    model = _build_for_summary(args)
    print(layer_table(model))
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


def register(commands):
    """Adds `models`, `summary` and `tour` to the sub-command parsers."""
    models = commands.add_parser(
        "models", help="table of the registered networks",
        description="Lists the registered networks: parameters, default input, minimum size, paper.",
        epilog="Example: keras-cnns models 'vgg*'",
    )
    models.add_argument("pattern", nargs="?", default="*", help="glob pattern over names (default: all)")
    models.set_defaults(run=_command_models)

    summary = commands.add_parser(
        "summary", help="layer table of one network: shapes, parameters, MACs, receptive fields",
        description="Builds one registered network (or loads a run directory or .keras file) and prints "
                    "every layer's output shape, parameters, multiply-accumulates, receptive field and "
                    "effective stride, with totals.",
        epilog="Example: keras-cnns summary resnet20 --input-shape 28,28,1 --classes 10",
    )
    summary.add_argument("model", help="a registered name (see `keras-cnns models`), a run directory or a .keras file")
    summary.add_argument("--input-shape", type=parse_shape, help="HEIGHT,WIDTH,CHANNELS (default: the model's)")
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

"""Commands about training: `train`, `recipes`, `evaluate`."""

from keras_cnns.cli.args import TTA_CHOICES, add_tta_option, parse_image_size, tta_setting
from keras_cnns.train.config import MIXED_PRECISION_MODES, OPTIMIZERS, SCHEDULES


def _command_train(args):
    from keras_cnns.cli.args import json_object, parse_classes
    from keras_cnns.registry import min_input_size
    from keras_cnns.train import default_config, recipe_config, train

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
            "ema_decay": args.ema_decay,
            "lookahead_steps": args.lookahead_steps,
            "lookahead_alpha": args.lookahead_alpha,
            "lr_batch_size": args.lr_batch_size,
            "batch_norm_momentum": args.batch_norm_momentum,
            "norm_bias_lr_scale": args.norm_bias_lr_scale,
            "mixed_precision": args.mixed_precision,
            "seed": args.seed,
            "limit": args.limit,
            "validation_split": args.validation_split,
            "classes": parse_classes(args.classes),
            "data_dir": args.data_dir,
            "image_size": args.image_size,
            "out_dir": args.out,
        }.items()
        if value is not None
    }
    if args.no_augment:
        overrides["augment"] = None
    if args.skip_bad_files:
        overrides["skip_bad_files"] = True
    if args.whiten_first_conv:
        overrides["whiten_first_conv"] = True
    if args.dirac_init:
        overrides["dirac_init"] = True
    if args.no_fused_batch_norm:
        overrides["fused_batch_norm"] = False
    if args.tta is not None:
        overrides["tta"] = None if args.tta == "none" else args.tta
    if args.model_kwargs:
        overrides["model_kwargs"] = json_object("--model-kwargs", args.model_kwargs, '{"width_multiplier": 0.5}')
    if args.recipe is not None:
        # The recipe's settings, then anything given on the command line.
        for key in ("model", "dataset"):
            if getattr(args, key) is not None:
                overrides[key] = getattr(args, key)
        config = recipe_config(args.recipe, **overrides)
    elif args.model is None:
        raise ValueError(
            "keras-cnns train needs a model name or a --recipe; received neither. "
            "Example: keras-cnns train resnet20 --dataset fashion_mnist, or "
            "keras-cnns train --recipe fashion_mnist_quick (`keras-cnns recipes` lists the recipes)."
        )
    else:
        config = default_config(args.model, args.dataset or "fashion_mnist", **overrides)
    min_input_size(config.model, **config.model_kwargs)  # Unknown or impossible knobs refused before any data loads.
    result = train(config, overwrite=args.overwrite, cluster=_cluster(args))
    metrics = result.metrics
    if metrics is None:  # A process other than the chief: the chief evaluates.
        return 0
    print(f"\nTest accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}) after "
          f"{metrics['epochs_run']} epochs; run directory: {result.out_dir}")
    return 0


def _cluster(args):
    """The `ProcessCluster` of --coordinator/--num-processes/--process-id, else of the
    environment (Keras' KERAS_DISTRIBUTION_* variables), else None."""
    from keras_cnns.train import ProcessCluster

    options = (args.coordinator, args.num_processes, args.process_id)
    if all(option is None for option in options):
        return ProcessCluster.from_env()
    if any(option is None for option in options):
        raise ValueError(
            "Multi-process training needs --coordinator, --num-processes and --process-id together; "
            f"received --coordinator={args.coordinator} --num-processes={args.num_processes} "
            f"--process-id={args.process_id}."
        )
    return ProcessCluster(args.coordinator, args.num_processes, args.process_id)


def _command_recipes(args):
    from keras_cnns.train import RECIPES

    print(f"{'recipe':<24} {'model':<10} {'dataset':<14} about")
    for name in sorted(RECIPES):
        recipe = RECIPES[name]
        print(f"{name:<24} {recipe.model:<10} {recipe.dataset:<14} {recipe.describe()}")
    return 0


def _command_evaluate(args):
    from keras_cnns.train import evaluate

    metrics = evaluate(args.run_dir, verbose=1, tta=tta_setting(args.tta))
    print(f"Test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f})")
    for name, accuracy in metrics["per_class_accuracy"].items():
        print(f"  {name:<14} {'-' if accuracy is None else f'{accuracy:.4f}'}")
    return 0


def register(commands):
    """Adds `train`, `recipes` and `evaluate` to the sub-command parsers."""
    train = commands.add_parser(
        "train", help="train a network on a dataset",
        description="Trains a registered network with the family's default recipe (or a named, measured "
                    "--recipe) and writes a run directory: config.json, history.csv, best.keras, "
                    "metrics.json, plots, TensorBoard logs. Rerunning the same command after an "
                    "interruption resumes the run.",
        epilog="Example: keras-cnns train resnet20 --dataset fashion_mnist --epochs 10 --out runs/r20, "
               "or keras-cnns train --recipe fashion_mnist_quick --out runs/quickstart",
    )
    train.add_argument("model", nargs="?", help="a registered name (see `keras-cnns models`); "
                                                "optional with --recipe")
    train.add_argument("--recipe", help="a named recipe (see `keras-cnns recipes`); the options "
                                        "given beside it override its settings")
    train.add_argument("--dataset",
                       help="fashion_mnist (the default), digits, mnist, cifar10, ... or an "
                            "image-folder path")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--lr", type=float, help="peak learning rate (at --lr-batch-size, where one is set)")
    train.add_argument("--lr-batch-size", type=int, metavar="SIZE",
                       help="the batch size --lr is set for: other batch sizes scale it linearly (recipes set it)")
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--schedule", choices=SCHEDULES)
    train.add_argument("--label-smoothing", type=float)
    train.add_argument("--ema-decay", type=float, metavar="DECAY",
                       help="keep a moving average of the weights (e.g. 0.99) and validate, save and test it")
    train.add_argument("--lookahead-steps", type=int, metavar="K",
                       help="Lookahead: every K steps move slow weights half-way to the trained ones and go on "
                            "from them (e.g. 5)")
    train.add_argument("--lookahead-alpha", type=float, metavar="ALPHA",
                       help="how far the slow weights move at each Lookahead step, in (0, 1] (default 0.5)")
    train.add_argument("--tta", choices=TTA_CHOICES,
                       help="test-time augmentation of the run's model: its test accuracy, evaluate and export "
                            "average over the image and its mirror image (flip), and one-pixel shifts "
                            "(flip_shift); none: the bare network (default: the recipe's)")
    train.add_argument("--whiten-first-conv", action="store_true",
                       help="start the first convolution as a whitening of the training images' patches")
    train.add_argument("--dirac-init", action="store_true",
                       help="start every 3x3 convolution after the first as an identity map")
    train.add_argument("--batch-norm-momentum", type=float, metavar="MOMENTUM",
                       help="momentum of every batch-norm layer's moving statistics (e.g. 0.9 for short runs)")
    train.add_argument("--norm-bias-lr-scale", type=float, metavar="SCALE",
                       help="normalization layers' biases (beta) learn SCALE times faster than the other weights "
                            "(SGD only; airbench uses 64)")
    train.add_argument("--mixed-precision", choices=MIXED_PRECISION_MODES,
                       help="auto (default): float16 on a GPU, bfloat16 on a CPU with AVX512_BF16 or AMX "
                            "(TensorFlow), else float32; off; on (float16); bfloat16")
    train.add_argument("--no-fused-batch-norm", action="store_true",
                       help="train batch norm with Keras's own operations instead of TensorFlow's fused kernel "
                            "(the same function; the fused kernel is the default on the TensorFlow backend)")
    train.add_argument("--seed", type=int)
    train.add_argument("--limit", type=int, help="use only this many training images")
    train.add_argument("--validation-split", type=float, metavar="SHARE",
                       help="share of the training images held out for validation (default 0.1); "
                            "0 trains on all of them and keeps the checkpoint with the best training "
                            "accuracy")
    train.add_argument("--classes", help="train on these labels or class names only, relabelled 0, 1, ... "
                                         "in that order, e.g. 0,1,2,3,4")
    train.add_argument("--data-dir", help="where the dataset's files are")
    train.add_argument("--image-size", type=parse_image_size, metavar="SIZE|HEIGHT,WIDTH",
                       help="resize every image to this size (needed for datasets whose images vary "
                            "in size); default: the dataset's own, resized up to the model's minimum")
    train.add_argument("--skip-bad-files", action="store_true",
                       help="image folders: leave corrupt and non-image files out with a warning "
                            "instead of stopping")
    train.add_argument("--no-augment", action="store_true", help="turn data augmentation off")
    train.add_argument("--model-kwargs", help='builder knobs as JSON, e.g. \'{"width_multiplier": 2}\'')
    train.add_argument("--out", help="run directory (default: runs/MODEL-DATASET)")
    train.add_argument("--overwrite", action="store_true", help="start over in an existing run directory")
    cluster = train.add_argument_group(
        "one run on several processes or machines (JAX)",
        "Start every process with KERAS_BACKEND=jax and the same arguments but its own "
        "--process-id (or set Keras' KERAS_DISTRIBUTION_JOB_ADDRESSES, "
        "KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID instead).")
    cluster.add_argument("--coordinator", metavar="HOST:PORT",
                         help="address of process 0, reachable by every process")
    cluster.add_argument("--num-processes", type=int, help="number of processes in the job")
    cluster.add_argument("--process-id", type=int,
                         help="this process's id, 0 to N-1; process 0 writes the run directory")
    train.set_defaults(run=_command_train, resume_hint="resume from the last completed epoch")

    recipes = commands.add_parser(
        "recipes", help="list the named training recipes",
        description="Lists the named training recipes: model, dataset and what each reached.",
        epilog="Example: keras-cnns recipes",
    )
    recipes.set_defaults(run=_command_recipes)

    evaluate = commands.add_parser(
        "evaluate", help="evaluate a run's best model on its test set",
        description="Reloads RUN_DIR/best.keras and its dataset and prints the test accuracy per class.",
        epilog="Example: keras-cnns evaluate runs/r20",
    )
    evaluate.add_argument("run_dir", help="a run directory written by `keras-cnns train`")
    add_tta_option(evaluate, "test-time augmentation: average the answers over the image and its mirror image "
                             "(flip), and also over one-pixel shifts of both (flip_shift)")
    evaluate.set_defaults(run=_command_evaluate)

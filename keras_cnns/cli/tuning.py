"""Commands about hyperparameter search: `tune`."""

import argparse
import dataclasses

DEFAULT_MAX_TRIALS = 10
DISTRIBUTED_HELP = (
    "Distributed search (Keras Tuner's chief and workers): start the same command, with the same --out on "
    "a shared file system, once as the chief and once per worker, with KERASTUNER_ORACLE_IP and "
    "KERASTUNER_ORACLE_PORT set to the chief's address and KERASTUNER_TUNER_ID=chief for the chief, "
    "tuner0, tuner1, ... for the workers. The chief serves the oracle and, when the workers are done, "
    "writes the results and the final model; a killed worker is replaced by starting it again with its "
    "KERASTUNER_TUNER_ID."
)


def _command_tune(args):
    from keras_cnns.cli.args import json_object
    from keras_cnns.cli.export import quantized_tolerances
    from tuning import SearchConfig, run_search

    constraint = None
    if args.latency_target_ms is not None and args.size_target_kb is not None:
        raise ValueError("Pass one of --latency-target-ms and --size-target-kb, not both.")
    if args.latency_target_ms is not None or args.size_target_kb is not None:
        resource = "latency_ms" if args.latency_target_ms is not None else "size_kb"
        target = args.latency_target_ms if args.latency_target_ms is not None else args.size_target_kb
        weight = args.constraint_weight
        constraint = {"resource": resource, "target": target, "alpha": weight, "beta": weight,
                      "quantization": args.constraint_quantization}
        if args.hard_constraint:
            constraint.update(alpha=0.0, beta=-1.0)
    max_trials = args.max_trials
    if max_trials is None and args.budget_minutes is None and args.tuner != "hyperband":
        max_trials = DEFAULT_MAX_TRIALS
    config = SearchConfig(
        space=args.space,
        dataset=args.dataset,
        tuner=args.tuner,
        max_trials=max_trials,
        budget_minutes=args.budget_minutes,
        epochs=args.epochs,
        trial_images=args.trial_images,
        validation_split=args.validation_split,
        limit=args.limit,
        seed=args.seed,
        constraint=constraint,
        hyperband_factor=args.hyperband_factor,
        keep_checkpoints=args.keep_checkpoints,
        max_consecutive_failures=args.max_consecutive_failures,
        fixed=json_object("--fixed", args.fixed, '{"batch_size": 128}'),
        space_kwargs=json_object("--space-kwargs", args.space_kwargs, '{"max_stages": 3}'),
        retrain_epochs=args.retrain_epochs,
        retrain_minutes=args.retrain_minutes,
        export_formats=_formats(args.export),
        export_options=quantized_tolerances(args) if args.export else {},
        data_dir=args.data_dir,
        out_dir=args.out,
    )
    result = run_search(config, overwrite=args.overwrite, verbose=args.verbose)
    if result.role == "worker":
        return 0
    summary = result.summary
    print(f"\nBest of {summary['completed']} trials ({summary['failed']} failed, "
          f"{summary['trials_per_hour'] or 0:.1f} per hour): trial {summary['best_trial']}, validation "
          f"accuracy {summary['best_val_accuracy']:.4f}; test accuracy {result.test_accuracy:.4f}. "
          f"Results: {result.out_dir}/results.csv, summary.json, final/.")
    return 0


def _formats(text):
    if not text:
        return []
    if text == "default":
        from keras_cnns.export import DEFAULT_FORMATS

        return list(DEFAULT_FORMATS)
    return [part.strip() for part in text.split(",") if part.strip()]


def _positive_number(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number; received {text!r}")
    return value


def register(commands):
    """Adds `tune` to the sub-command parsers; choices and defaults are `tuning.config`'s."""
    from keras_cnns.cli.export import add_quantized_tolerance_options
    from keras_cnns.export.formats import DEFAULT_FORMATS, QUANTIZATIONS
    from tuning.config import MNASNET_WEIGHT, SPACES, TUNERS, SearchConfig

    default = {field.name: field.default for field in dataclasses.fields(SearchConfig)}
    tune = commands.add_parser(
        "tune", help="search depth, width and training hyperparameters with Keras Tuner",
        description="Searches a space of networks (resnet, vgg or inception: the project's builders, "
                    "with depth, widths, block types and the training hyperparameters) with Keras Tuner's "
                    "random search, Hyperband or Bayesian optimization, scoring trials on the validation "
                    "split. Writes OUT/results.csv (every trial: hyperparameters, accuracy, parameters, "
                    "time), accuracy_vs_params.png, accuracy_vs_time.png and summary.json, then the best "
                    "network in OUT/final/ (retrained on train+validation with --retrain-epochs), evaluated "
                    "once on the test set and exported with --export. Rerunning the same command resumes "
                    "the search; finished trials are not run again. " + DISTRIBUTED_HELP,
        epilog="Example: keras-cnns tune vgg --dataset fashion_mnist --tuner hyperband --epochs 9 "
               "--budget-minutes 40 --trial-images 20000 --retrain-epochs 15 --export default --out runs/tune-vgg",
    )
    tune.add_argument("space", help=f"search space: {', '.join(SPACES)}")
    tune.add_argument("--dataset", default=default["dataset"],
                      help="fashion_mnist, digits, mnist, cifar10, ... or an image-folder path")
    tune.add_argument("--tuner", choices=TUNERS, default=default["tuner"])
    tune.add_argument("--max-trials", type=int, default=None,
                      help=f"most trials (default {default['max_trials']} without --budget-minutes; a cap for "
                           "hyperband)")
    tune.add_argument("--budget-minutes", type=_positive_number,
                      help="start no trial after this much search time (summed over resumed runs)")
    tune.add_argument("--epochs", type=int, default=default["epochs"],
                      help=f"epochs per trial; hyperband's most (default {default['epochs']})")
    tune.add_argument("--trial-images", type=int,
                      help="train trials on this many training images (a fixed stratified subset)")
    tune.add_argument("--validation-split", type=float, default=default["validation_split"],
                      help=f"share of the training pool that scores the trials (default {default['validation_split']})")
    tune.add_argument("--limit", type=int, help="use only this many training images in all")
    tune.add_argument("--seed", type=int, default=default["seed"])
    tune.add_argument("--fixed", help='hyperparameters pinned, as JSON, e.g. \'{"batch_size": 128}\'')
    tune.add_argument("--space-kwargs", help='ranges of the space, as JSON (its constructor\'s keyword arguments), e.g. '
                           '\'{"max_stages": 3}\' for resnet or \'{"max_blocks": 4}\' for vgg')
    tune.add_argument("--hyperband-factor", type=int, default=default["hyperband_factor"])
    tune.add_argument("--latency-target-ms", type=_positive_number,
                      help="score trials by accuracy x (TFLite ms per image / target)^w (MnasNet)")
    tune.add_argument("--size-target-kb", type=_positive_number,
                      help="score trials by accuracy x (TFLite file kB / target)^w")
    tune.add_argument("--constraint-weight", type=float, default=MNASNET_WEIGHT,
                      help=f"the exponent w of the latency or size term (default {MNASNET_WEIGHT}, "
                           "MnasNet's soft constraint)")
    tune.add_argument("--hard-constraint", action="store_true",
                      help="MnasNet's hard constraint: w = 0 within the target, -1 beyond it")
    tune.add_argument("--constraint-quantization", choices=QUANTIZATIONS,
                      default=QUANTIZATIONS[0], help=f"the TFLite conversion measured (default {QUANTIZATIONS[0]})")
    tune.add_argument("--keep-checkpoints", type=int, default=default["keep_checkpoints"],
                      help="trial checkpoints kept, best first")
    tune.add_argument("--max-consecutive-failures", type=int, default=default["max_consecutive_failures"],
                      help=f"failed trials in a row that stop the search (default {default['max_consecutive_failures']})")
    tune.add_argument("--retrain-epochs", type=int, default=default["retrain_epochs"],
                      help="retrain the best network on train+validation for this many epochs (default: "
                           "keep its trial checkpoint)")
    tune.add_argument("--retrain-minutes", type=_positive_number,
                      help="instead of --retrain-epochs: as many epochs as fit in this many minutes, "
                           "estimated from the best trial's time per image")
    tune.add_argument("--export", metavar="FORMATS",
                      help=f"export the final model: 'default' ({','.join(DEFAULT_FORMATS)}) or a comma list")
    add_quantized_tolerance_options(tune)
    tune.add_argument("--data-dir", help="where the dataset's files are")
    tune.add_argument("--out", help="job folder (default: runs/tune-SPACE-DATASET)")
    tune.add_argument("--overwrite", action="store_true", help="delete an earlier search in --out first")
    tune.add_argument("--verbose", type=int, choices=[0, 1, 2], default=1,
                      help="0 quiet, 1 trial tables and progress bars, 2 one line per epoch")
    tune.set_defaults(run=_command_tune)

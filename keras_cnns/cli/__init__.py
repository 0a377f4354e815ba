"""The `keras-cnns` command line (also `python -m keras_cnns`).

One module per area, each with a `register(commands)` function that adds its
sub-commands to the parser:

* `zoo`: `models`, `summary`, `tour`.
* `training`: `train`, `recipes`, `evaluate`.
* `inspect`: `visualize`, `finetune`.
* `export`: `export`, `predict`.
* `tuning`: `tune`.

A command's function takes the parsed arguments and returns the exit status.
Keras (and TensorFlow) are imported only for a command that needs them, and
then without their start-up log lines (`keras_cnns._quiet`); `predict` runs
on LiteRT alone.
Errors a user can fix (`ValueError`, `RuntimeError`, `OSError`: bad
arguments, files, folders) are printed as one line, in the command's flags
(`keras_cnns.cli.flags`), without a traceback, with exit status 2; Ctrl-C
exits with 130 and says how to resume.
"""

import argparse
import importlib
import sys

from keras_cnns._quiet import import_keras_quietly
from keras_cnns.cli import flags
from keras_cnns.interrupts import stop_on_ctrl_c

# Modules of this package that add sub-commands, in the order of `--help`.
COMMAND_MODULES = ("zoo", "training", "export", "tuning", "inspect")


def build_parser():
    """The argument parser of `keras-cnns`; every command has --help with an example."""
    parser = argparse.ArgumentParser(
        prog="keras-cnns",
        description="Classic convolutional networks for Keras 3: build, inspect, train, tune, export.",
        epilog="Example: keras-cnns models 'resnet*'",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{module_name}").register(commands)
    return parser


# Exit status of a command stopped with Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def main(argv=None):
    """Entry point of the `keras-cnns` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with stop_on_ctrl_c():
            if not getattr(args, "light", False):
                import_keras_quietly()
            return args.run(args)
    except KeyboardInterrupt:
        resume = ""
        if getattr(args, "resume_hint", None):  # With --overwrite, the same command would clear what was done.
            again = "Run it again without --overwrite" if getattr(args, "overwrite", False) else "Run the same command again"
            resume = f" {again} to {args.resume_hint}."
        print(f"\nkeras-cnns {args.command}: interrupted.{resume}", file=sys.stderr)
        return INTERRUPTED
    except (ValueError, RuntimeError, OSError) as error:  # What a user can fix: arguments, files, folders.
        message = flags.in_flags(str(error), parser, args.command)
        print(f"keras-cnns {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

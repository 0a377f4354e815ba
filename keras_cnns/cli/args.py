"""Argument types shared by the commands."""

import argparse
import json

from keras_cnns.train.config import TTA_VIEWS


def parse_shape(text):
    """`HEIGHT,WIDTH,CHANNELS` as a tuple of three ints (an argparse type)."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH,CHANNELS such as 32,32,1; received {text!r}")
    return shape


def parse_image_size(text):
    """`--image-size 224` (square) or `--image-size 224,160` (height,width) as a list of ints."""
    try:
        size = [int(part) for part in text.split(",")]
    except ValueError:
        size = []
    if len(size) not in (1, 2) or min(size) < 1:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHT,WIDTH in pixels such as 224 or 224,160; received {text!r}"
        )
    return size * 2 if len(size) == 1 else size


def parse_classes(text):
    """`--classes 5,6,7` (labels) or `--classes Sandal,Bag` (names) as a list; None stays None."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return [int(item) if item.lstrip("-").isdigit() else item for item in items]


def json_object(flag, text, example):
    """The JSON object `text` of option `flag` as a dict ({} when empty).

    Raises:
        ValueError: If `text` is not JSON, or not an object, naming `flag`.
    """
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{flag} is not valid JSON ({error}); received {text!r}. Pass for example '{example}'.") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag} must be a JSON object such as '{example}'; received {text!r}.")
    return value


# `--tta` of evaluate and export: a view set, or "none"; left out, the run's own `TrainConfig.tta`.
TTA_CHOICES = (*TTA_VIEWS, "none")


def add_tta_option(parser, help_text):
    """Adds `--tta {flip,flip_shift,none}`; `tta_setting(args.tta)` turns it into the library's `tta` argument."""
    parser.add_argument("--tta", choices=TTA_CHOICES, default=None,
                        help=f"{help_text}; none: the bare network (default: the run's own setting, "
                             "`train --tta`)")


def tta_setting(value):
    """The `tta` argument of `evaluate` / `export_model` for a `--tta` value: None -> "run", "none" -> None."""
    if value is None:
        return "run"
    return None if value == "none" else value

"""Argument types shared by the commands."""

import argparse


def parse_shape(text):
    """`HEIGHT,WIDTH,CHANNELS` as a tuple of three ints (an argparse type)."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(f"expected HEIGHT,WIDTH,CHANNELS such as 32,32,1; received {text!r}")
    return shape


def parse_classes(text):
    """`--classes 5,6,7` (labels) or `--classes Sandal,Bag` (names) as a list; None stays None."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    return [int(item) if item.lstrip("-").isdigit() else item for item in items]

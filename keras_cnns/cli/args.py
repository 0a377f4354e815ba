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

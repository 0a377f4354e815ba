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

"""Argument checks shared by every part of the package.

Each raises a `ValueError` that names the argument, says what it must be and
what was received, and gives an example: "batch_size must be a positive int;
received 0. Pass for example 128." Only the standard library: any module,
however light, can use them.
"""

import math
import numbers


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_choice(argument, value, choices):
    """Raises unless `value` is one of `choices` (compared with its type: 1 is not True)."""
    if not any(type(value) is type(choice) and value == choice for choice in choices):
        raise ValueError(
            f"{argument} must be one of {list(choices)}; received {value!r}. Pass for example {choices[0]!r}."
        )


def check_int(argument, value, *, low=None, example=None, optional=False):
    """Raises unless `value` is an int (not a bool) of at least `low`; None passes when `optional`."""
    if value is None and optional:
        return
    if not _is_int(value) or (low is not None and value < low):
        what = "an int" if low is None else ("a positive int" if low == 1 else f"an int >= {low}")
        hint = f" Pass for example {example if example is not None else max(low or 0, 1)}."
        raise ValueError(f"{argument} must be {what}{' or None' if optional else ''}; received {value!r}.{hint}")


def check_positive_int(argument, value, example=None):
    """Raises unless `value` is an int of at least 1."""
    check_int(argument, value, low=1, example=example)


def check_number(argument, value, *, low, high=None, low_inclusive=True, high_inclusive=False, example):
    """Raises unless `value` is a finite number within the bounds (low included by default, high excluded)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        above = value >= low if low_inclusive else value > low
        below = high is None or (value <= high if high_inclusive else value < high)
        if above and below:
            return
    bounds = (f"{'[' if low_inclusive else '('}{low}, {high if high is not None else 'inf'}"
              f"{']' if high_inclusive else ')'}")
    raise ValueError(f"{argument} must be a finite number in {bounds}; received {value!r}. Pass for example {example}.")

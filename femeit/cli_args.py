"""Argument types of the ``femeit`` command: a bad value is an argparse error naming the option.

argparse calls these on the text of an option; the ``ArgumentTypeError`` they
raise becomes ``femeit: error: argument --lam: ...`` and exit status 2, never a
traceback from deep inside a solver.
"""

from __future__ import annotations

import argparse
import math


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def finite_float(text: str) -> float:
    """A finite number."""
    return _number(text)


def positive_float(text: str) -> float:
    """A finite number above zero."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number of at least 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or positive, got {text!r}")
    return value


def lam(text: str) -> str | float:
    """``auto`` or a finite non-negative regularisation parameter."""
    if text.strip().lower() == "auto":
        return "auto"
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 'auto' or a number >= 0, got {text!r}")
    return value

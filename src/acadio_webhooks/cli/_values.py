"""The argparse types of the command line: lengths of time, retention, counts, ports."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from acadio_webhooks.cli._common import RELATIVE_TIME, TIME_UNITS

__all__ = ["parse_duration", "retention_period", "positive_int", "port_number", "positive_float"]

_NumberT = TypeVar("_NumberT", int, float)


def parse_duration(text: str) -> timedelta:
    """An argparse type: a positive length of time like ``90m``, ``24h``, ``30d`` or ``2w``."""
    relative = RELATIVE_TIME.fullmatch(text.strip())
    if relative is None or int(relative.group(1)) == 0:
        raise argparse.ArgumentTypeError(
            f"cannot read length of time {text!r}: use a positive number and a unit, "
            "such as 90m, 24h, 30d or 2w"
        )
    amount, unit = relative.groups()
    return timedelta(**{TIME_UNITS[unit]: int(amount)})


def retention_period(text: str) -> timedelta | None:
    """An argparse type: a length of time as for :func:`parse_duration`, or ``forever``."""
    if text.strip().lower() == "forever":
        return None
    try:
        return parse_duration(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"cannot read retention {text!r}: use a length of time such as 30d or 12w, "
            "or forever to keep everything"
        ) from None


def positive_int(text: str) -> int:
    """An argparse type: an int of at least 1."""
    value = _number(text, int, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free one) to 65535."""
    value = _number(text, int, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    value = _number(text, float, "a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be a positive number")
    return value


def _number(text: str, convert: Callable[[str], _NumberT], what: str) -> _NumberT:
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

"""Argument types shared by the command modules (argparse ``type=`` callables)."""

from __future__ import annotations

import argparse


def _whole_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {low}, got {text!r}"
        ) from None
    if value < low:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    return _whole_at_least(text, 1)


def nonneg_int(text: str) -> int:
    """A whole number >= 0."""
    return _whole_at_least(text, 0)

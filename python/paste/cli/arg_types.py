"""argparse value types shared by several sub-commands."""

from __future__ import annotations

import argparse


def waste_ratio_arg(text: str) -> float | None:
    """--max-waste-ratio: a finite number >= 0, or `none` (unbounded)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):  # also false for nan
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0 or 'none', got {text!r}")
    return value

"""Identifiers: prefixed, time-ordered, URL-safe (``evt_0193f2c1a4b7e2c0f1d9a3b4c5d6e7f8``).

Time-ordered ids keep B-tree inserts local in SQL stores and make listings sort by creation.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]


def new_id(prefix: str, *, now: float | None = None) -> str:
    """Return ``prefix_`` + 12 hex digits of milliseconds + 20 random hex digits."""
    millis = int((time.time() if now is None else now) * 1000)
    return f"{prefix}_{millis:012x}{os.urandom(10).hex()}"

"""What every benchmark prints around its figures: the machine it ran on, one ``MET`` or
``MISSED`` line per target, and the ``--smoke`` run that CI uses to keep each script working.

A smoke run sends a handful of requests and takes seconds; its figures mean nothing (too few
samples, and CI's machine is busy), so it never fails on a missed target: it checks that the
benchmark still runs to its end and prints its ratios and verdicts. A full run exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import hmac
import os
import platform
import timeit
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "EMIT_TARGET_US",
    "WORKER_TARGET_US",
    "Target",
    "add_smoke_flag",
    "exit_code",
    "hmac_microseconds",
    "machine_note",
    "overhead_targets",
    "report",
]

# Issue #13: library CPU outside HTTP and the store's I/O.
WORKER_TARGET_US = 20.0
EMIT_TARGET_US = 15.0


@dataclass(frozen=True)
class Target:
    """One figure and the bound it must reach: ``value >= bound``, or ``<=`` with ``at_most``."""

    label: str
    value: float
    bound: float
    at_most: bool = False
    unit: str = "x"

    @property
    def met(self) -> bool:
        return self.value <= self.bound if self.at_most else self.value >= self.bound

    def line(self) -> str:
        verdict = "MET   " if self.met else "MISSED"
        relation = "<=" if self.at_most else ">="
        return (
            f"  {verdict} {self.label}: {self.value:,.2f}{self.unit} "
            f"(target {relation} {self.bound:,g}{self.unit})"
        )


def report(targets: Iterable[Target]) -> bool:
    """Print the targets' verdicts under a ``targets:`` heading; whether all were met."""
    print("\ntargets:")
    met = True
    for target in targets:
        print(target.line())
        met &= target.met
    return met


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI's check that this benchmark still runs: a handful of requests, seconds; "
        "the figures mean nothing and a missed target does not fail it",
    )


def exit_code(met: bool, *, smoke: bool) -> int:
    """0 when every target was met, or in a smoke run (which checks that the script runs)."""
    return 0 if met or smoke else 1


def machine_note(*, smoke: bool) -> str:
    """A line to print first: the machine's cores and load, so a reader can weigh the figures."""
    try:
        load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    except OSError:  # not every platform has a load average
        load = "unknown"
    note = (
        f"machine: {os.cpu_count()} cores, load average {load} (1, 5, 15 min); "
        f"Python {platform.python_version()}"
    )
    if smoke:
        note = "SMOKE RUN: a handful of samples; the figures below mean nothing\n" + note
    return note


def hmac_microseconds() -> float:
    """One HMAC-SHA256 of 1 KiB on this machine now, best of 5 runs: the yardstick that
    figures in microseconds are read against (it carries over to machines of other speeds)."""
    key, payload = b"k" * 32, b"x" * 1024
    runs = timeit.repeat(lambda: hmac.digest(key, payload, "sha256"), number=20_000, repeat=5)
    return min(runs) / 20_000 * 1e6


def overhead_targets(worker_us: float, emit_us: float, *, label: str = "") -> list[Target]:
    """The two CPU targets of issue #13, from microseconds however they were measured."""
    prefix = f"{label}: " if label else ""
    return [
        Target(f"{prefix}worker, CPU per delivery", worker_us, WORKER_TARGET_US, True, " us"),
        Target(f"{prefix}emit, CPU per event", emit_us, EMIT_TARGET_US, True, " us"),
    ]

"""``acadio-webhooks prune``: delete delivery history older than a retention period."""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from acadio_webhooks.cli._common import (
    EXIT_OK,
    add_command,
    add_db_option,
    add_json_option,
    opened_dispatcher,
    plural,
    print_json,
    stdout_console,
)
from acadio_webhooks.cli._values import parse_duration, positive_int

if TYPE_CHECKING:
    from acadio_webhooks.domain.retention import PruneReport

__all__ = ["register", "add_batch_size_option", "described", "report_record"]

_DESCRIPTION = """\
Delete events older than a retention period, with their deliveries and attempts, once every
delivery of the event is final (delivered, failed, cancelled) and was last changed before the
same cut-off; and failure notices sent before it. Pending deliveries are never deleted. Works
in short batches, so emits and workers carry on meanwhile; safe to interrupt and run again.

examples:
  acadio-webhooks prune --db sqlite:///webhooks.db --older-than 30d --dry-run
  acadio-webhooks prune --db postgresql://app@db/lms --older-than 90d --json
"""


def register(commands: Any) -> None:
    """Add ``prune``."""
    parser = add_command(
        commands, "prune", "delete delivery history older than a retention period", _DESCRIPTION
    )
    add_db_option(parser)
    parser.add_argument(
        "--older-than",
        required=True,
        metavar="AGE",
        type=parse_duration,
        help="how old history must be to go: 90m, 24h, 30d, 2w",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="delete nothing; count what would go"
    )
    add_batch_size_option(parser, "examined")
    add_json_option(parser)
    parser.set_defaults(handler=run_prune)


def add_batch_size_option(parser: argparse.ArgumentParser, verb: str) -> None:
    """``--batch-size N``: events ``verb`` per transaction (prune and erase)."""
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=500,
        metavar="N",
        help=f"events {verb} per transaction (default 500)",
    )


def run_prune(args: argparse.Namespace) -> int:
    """Prune, showing the running totals on a terminal; print what went (or would go)."""
    console = stdout_console()
    show_progress = console.is_terminal and not args.json
    with opened_dispatcher(args.db) as dispatcher:
        if show_progress:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as progress:
                task = progress.add_task("examining old events", total=None)

                def update(total: PruneReport) -> None:
                    progress.update(task, description=f"examined {total.examined:,} old events")

                report = dispatcher.prune(
                    args.older_than,
                    dry_run=args.dry_run,
                    batch_size=args.batch_size,
                    progress=update,
                )
        else:
            report = dispatcher.prune(
                args.older_than, dry_run=args.dry_run, batch_size=args.batch_size
            )
    if args.json:
        older_than = int(args.older_than.total_seconds())
        print_json({"older_than_seconds": older_than, **report_record(report)})
        return EXIT_OK
    line = described(report, notices="sent notice")
    kept = report.examined - report.events
    if kept:
        line += f"; kept {plural(kept, 'old event')} whose deliveries can still change"
    console.print(line)
    return EXIT_OK


def report_record(report: PruneReport) -> dict[str, Any]:
    """A prune or erase report for ``--json``: every count, ``dry_run`` first."""
    return {"dry_run": report.dry_run, **dataclasses.asdict(report)}


def described(report: PruneReport, *, notices: str) -> str:
    """``deleted 3 events, 3 deliveries, 5 attempts and 0 <notices>`` (or ``would delete``)."""
    verb = "would delete" if report.dry_run else "deleted"
    counts = [
        plural(report.events, "event"),
        plural(report.deliveries, "delivery", "deliveries"),
        plural(report.attempts, "attempt"),
        plural(report.notifications, notices),
    ]
    return f"{verb} {', '.join(counts[:-1])} and {counts[-1]}"

"""``acadio-webhooks erase``: honour an erasure request for one subject or one tenant."""

from __future__ import annotations

import argparse
from typing import Any

from acadio_webhooks.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_command,
    add_db_option,
    add_json_option,
    opened_dispatcher,
    print_json,
    stdout_console,
)
from acadio_webhooks.cli._prune import add_batch_size_option, described, report_record

__all__ = ["register"]

_DESCRIPTION = """\
Delete every event about one subject (the subject= given to emit, e.g. a student's id), or
every event of one tenant, whatever its age or state, with its deliveries (pending ones too),
their attempts and the failure notices naming it. For GDPR/FERPA erasure requests.
Integrations and subscriptions stay. Nothing is deleted without --yes; --dry-run counts.

examples:
  acadio-webhooks erase --db sqlite:///webhooks.db --subject student-3 --dry-run
  acadio-webhooks erase --db postgresql://app@db/lms --subject student-3 --yes --json
  acadio-webhooks erase --db postgresql://app@db/lms --tenant school-9 --yes
"""


def register(commands: Any) -> None:
    """Add ``erase``."""
    summary = "delete every event of one subject or tenant (erasure requests)"
    parser = add_command(commands, "erase", summary, _DESCRIPTION)
    add_db_option(parser)
    whose = parser.add_mutually_exclusive_group(required=True)
    whose.add_argument("--subject", metavar="S", help="the subject= given to emit")
    whose.add_argument("--tenant", metavar="T", help="every event of this tenant")
    confirm = parser.add_mutually_exclusive_group()
    confirm.add_argument("--yes", action="store_true", help="erase (it cannot be undone)")
    confirm.add_argument("--dry-run", action="store_true", help="delete nothing; count")
    add_batch_size_option(parser, "deleted")
    add_json_option(parser)
    parser.set_defaults(handler=run_erase)


def run_erase(args: argparse.Namespace) -> int:
    """Erase (or count) and print what went."""
    if not (args.yes or args.dry_run):
        raise CommandError(
            "erasing cannot be undone: pass --yes to erase, or --dry-run to count first",
            EXIT_USAGE,
        )
    if args.subject == "" or args.tenant == "":
        raise CommandError("--subject and --tenant need a non-empty value", EXIT_USAGE)
    with opened_dispatcher(args.db) as dispatcher:
        report = dispatcher.erase(
            subject=args.subject,
            tenant=args.tenant,
            dry_run=args.dry_run,
            batch_size=args.batch_size,
        )
    whose = f"subject {args.subject!r}" if args.subject is not None else f"tenant {args.tenant!r}"
    if args.json:
        print_json({"subject": args.subject, "tenant": args.tenant, **report_record(report)})
    else:
        stdout_console().print(f"{described(report, notices='notice')} of {whose}")
    return EXIT_OK

"""``acadio-webhooks deliveries``: the admin page's delivery views and re-sends, in a terminal."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich import box
from rich.markup import escape
from rich.table import Table

from acadio_webhooks.cli._common import (
    EXIT_OK,
    add_command,
    add_db_option,
    add_json_option,
    format_when,
    opened_dispatcher,
    parse_since,
    plural,
    print_json,
    stdout_console,
)
from acadio_webhooks.cli._values import positive_int

if TYPE_CHECKING:
    from acadio_webhooks.domain.models import Attempt, Delivery

__all__ = ["register", "delivery_record", "attempt_record"]

_DESCRIPTION = """\
List deliveries, show one with its attempts, and re-send failed ones.

examples:
  acadio-webhooks deliveries --db sqlite:///webhooks.db list --status failed --since 24h
  acadio-webhooks deliveries --db sqlite:///webhooks.db show dlv_0193...
  acadio-webhooks deliveries --db sqlite:///webhooks.db resend dlv_0193...
  acadio-webhooks deliveries --db sqlite:///webhooks.db resend-failed \\
      --integration int_0193... --since 2026-03-01T00:00:00Z
"""

_STATUSES = ("pending", "delivered", "failed", "cancelled")
_WIDE = 110  # columns needed to show every field of a delivery on one line


def register(commands: Any) -> None:
    """Add ``deliveries`` and its subcommands."""
    parser = add_command(
        commands, "deliveries", "list, inspect and re-send deliveries", _DESCRIPTION
    )
    add_db_option(parser)
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="list deliveries, newest first")
    add_db_option(listing, nested=True)
    listing.add_argument("--status", choices=_STATUSES, help="only deliveries in this state")
    listing.add_argument("--topic", metavar="T", help="only deliveries of this topic")
    listing.add_argument("--integration", metavar="ID", help="only this integration's")
    listing.add_argument("--tenant", metavar="T", help="only this tenant's")
    listing.add_argument(
        "--since", metavar="WHEN", help="created at or after WHEN: ISO 8601, or 30m, 24h, 7d"
    )
    listing.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="at most N (default 50)"
    )
    add_json_option(listing)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="one delivery and its attempts")
    add_db_option(show, nested=True)
    show.add_argument("delivery_id", metavar="ID")
    add_json_option(show)
    show.set_defaults(handler=run_show)

    resend = actions.add_parser("resend", help="queue a fresh delivery of a delivery's event")
    add_db_option(resend, nested=True)
    resend.add_argument("delivery_id", metavar="ID")
    add_json_option(resend)
    resend.set_defaults(handler=run_resend)

    resend_failed = actions.add_parser(
        "resend-failed", help="re-send every failed delivery of an integration since a time"
    )
    add_db_option(resend_failed, nested=True)
    resend_failed.add_argument("--integration", required=True, metavar="ID")
    resend_failed.add_argument(
        "--since", required=True, metavar="WHEN", help="ISO 8601, or a look-back: 30m, 24h, 7d"
    )
    add_json_option(resend_failed)
    resend_failed.set_defaults(handler=run_resend_failed)


def delivery_record(delivery: Delivery) -> dict[str, Any]:
    """A delivery as JSON-ready fields."""
    return {
        "id": delivery.id,
        "event_id": delivery.event_id,
        "topic": delivery.topic,
        "tenant": delivery.tenant,
        "integration_id": delivery.integration_id,
        "subscription_id": delivery.subscription_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at.isoformat()
        if delivery.next_attempt_at
        else None,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at.isoformat(),
        "updated_at": delivery.updated_at.isoformat(),
    }


def attempt_record(attempt: Attempt) -> dict[str, Any]:
    """An attempt as JSON-ready fields."""
    return {
        "number": attempt.number,
        "started_at": attempt.started_at.isoformat(),
        "duration_ms": round(attempt.duration_ms, 1),
        "status_code": attempt.status_code,
        "error": attempt.error,
        "succeeded": attempt.succeeded,
        "response_excerpt": attempt.response_excerpt,
    }


def _last_result(delivery: Delivery) -> str:
    if delivery.last_status_code is not None:
        return str(delivery.last_status_code)
    return delivery.last_error or "-"


_STATUS_STYLE = {"delivered": "green", "failed": "red", "cancelled": "yellow", "pending": "cyan"}


def _status(value: str) -> str:
    return f"[{_STATUS_STYLE.get(value, 'default')}]{value}[/]"


def run_list(args: argparse.Namespace) -> int:
    """List deliveries matching the filters."""
    filters: dict[str, Any] = {"limit": args.limit}
    if args.status:
        filters["status"] = args.status
    if args.topic:
        filters["topic"] = args.topic
    if args.integration:
        filters["integration_id"] = args.integration
    if args.tenant:
        filters["tenant"] = args.tenant
    if args.since:
        filters["since"] = parse_since(args.since)
    with opened_dispatcher(args.db) as dispatcher:
        page = dispatcher.deliveries(**filters)
    if args.json:
        print_json([delivery_record(delivery) for delivery in page.items])
        return EXIT_OK
    console = stdout_console()
    if not page.items:
        console.print("no deliveries match")
        return EXIT_OK
    table = Table(title="Deliveries, newest first", title_justify="left", box=box.SIMPLE)
    table.add_column("delivery", overflow="fold", min_width=12)
    table.add_column("topic", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("tries", justify="right", no_wrap=True)
    table.add_column("last", overflow="fold", min_width=4)
    with_created = console.width >= _WIDE  # narrow terminals: keep the id readable instead
    if with_created:
        table.add_column("created", no_wrap=True)
    for delivery in page.items:
        cells = [
            delivery.id,
            delivery.topic,
            _status(delivery.status.value),
            str(delivery.attempts),
            escape(_last_result(delivery)),
        ]
        table.add_row(*cells, *([format_when(delivery.created_at)] if with_created else []))
    console.print(table)
    more = " (more: raise --limit or narrow the filters)" if page.next_cursor else ""
    console.print(f"{plural(len(page.items), 'delivery', 'deliveries')}{more}")
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    """One delivery, its endpoint and its attempts."""
    with opened_dispatcher(args.db) as dispatcher:
        delivery = dispatcher.delivery(args.delivery_id)
        attempts = dispatcher.attempts(delivery.id)
        subscription = dispatcher.store.get_subscription(delivery.subscription_id)
    if args.json:
        print_json(
            {
                **delivery_record(delivery),
                "endpoint": subscription.endpoint,
                "attempt_log": [attempt_record(attempt) for attempt in attempts],
            }
        )
        return EXIT_OK
    console = stdout_console()
    details = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    details.add_row("delivery", delivery.id)
    details.add_row("event", delivery.event_id)
    details.add_row("topic", delivery.topic)
    details.add_row("tenant", escape(delivery.tenant))
    details.add_row("integration", delivery.integration_id)
    details.add_row("endpoint", escape(subscription.endpoint))
    details.add_row("status", _status(delivery.status.value))
    details.add_row("attempts", str(delivery.attempts))
    if delivery.next_attempt_at and delivery.status.value == "pending":
        details.add_row("next attempt", format_when(delivery.next_attempt_at))
    details.add_row("created", format_when(delivery.created_at))
    console.print(details)
    if not attempts:
        console.print("no attempts yet")
        return EXIT_OK
    table = Table(title="Attempts", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("started", no_wrap=True)
    table.add_column("ms", justify="right")
    table.add_column("result")
    table.add_column("response")
    for attempt in attempts:
        excerpt = attempt.response_excerpt.replace("\n", " ")
        table.add_row(
            str(attempt.number),
            format_when(attempt.started_at),
            f"{attempt.duration_ms:.0f}",
            ("[green]" if attempt.succeeded else "[red]") + escape(attempt.summary) + "[/]",
            escape(excerpt[:60] + ("..." if len(excerpt) > 60 else "")),
        )
    console.print(table)
    return EXIT_OK


def run_resend(args: argparse.Namespace) -> int:
    """Queue one delivery again."""
    with opened_dispatcher(args.db) as dispatcher:
        fresh = dispatcher.resend(args.delivery_id)
    if args.json:
        print_json({"resent": args.delivery_id, "delivery": delivery_record(fresh)})
    else:
        stdout_console().print(
            f"queued {fresh.id} (a fresh delivery of event {fresh.event_id}); "
            "a running worker sends it"
        )
    return EXIT_OK


def run_resend_failed(args: argparse.Namespace) -> int:
    """Queue every failed delivery of an integration since a time."""
    since = parse_since(args.since)
    with opened_dispatcher(args.db) as dispatcher:
        count = dispatcher.resend_failed(args.integration, since=since)
    if args.json:
        print_json(
            {"integration_id": args.integration, "since": since.isoformat(), "queued": count}
        )
    else:
        stdout_console().print(
            f"queued {plural(count, 'failed delivery', 'failed deliveries')} "
            f"of {args.integration} since {format_when(since)}"
        )
    return EXIT_OK

"""``acadio-webhooks integrations``: the customer page's admin flow, from a terminal."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from acadio_webhooks.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_command,
    add_db_option,
    add_json_option,
    format_when,
    opened_dispatcher,
    plural,
    print_json,
    read_env_secret,
    stdout_console,
)
from acadio_webhooks.domain.rate_limit import check_rate_limit

if TYPE_CHECKING:
    from acadio_webhooks.domain.models import Integration, Subscription

__all__ = ["register"]

_DESCRIPTION = """\
Install integrations, subscribe endpoints, and deactivate ("disconnect") integrations.
Secrets are read from an environment variable and never printed.

examples:
  export HOOK_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
  acadio-webhooks integrations --db sqlite:///webhooks.db create --tenant tenant-42 \\
      --secret-env HOOK_SECRET --email lms-admin@example.com
  acadio-webhooks integrations --db sqlite:///webhooks.db subscribe int_0193... \\
      'course/*' https://hooks.example.com/acadio
  acadio-webhooks integrations --db sqlite:///webhooks.db rate-limit sub_0193... 5
  acadio-webhooks integrations --db sqlite:///webhooks.db list --tenant tenant-42
  acadio-webhooks integrations --db sqlite:///webhooks.db deactivate int_0193...
"""

_INSECURE_HELP = (
    "accept http:// and loopback/private endpoints: local development and tests ONLY "
    "(production endpoints must be https:// on public addresses)"
)


def register(commands: Any) -> None:
    """Add ``integrations`` and its subcommands."""
    summary = "install, list, subscribe and deactivate integrations"
    parser = add_command(commands, "integrations", summary, _DESCRIPTION)
    add_db_option(parser)
    actions = parser.add_subparsers(title="actions", dest="action", metavar="ACTION")
    actions.required = True

    listing = actions.add_parser("list", help="integrations and their subscriptions")
    add_db_option(listing, nested=True)
    listing.add_argument("--tenant", metavar="T", help="only this tenant's integrations")
    add_json_option(listing)
    listing.set_defaults(handler=run_list)

    create = actions.add_parser("create", help="install an integration for a tenant")
    add_db_option(create, nested=True)
    create.add_argument("--tenant", required=True, metavar="T", help="the tenant/account id")
    create.add_argument(
        "--secret-env",
        required=True,
        metavar="VAR",
        help="environment variable holding the signing secret (16 characters or more)",
    )
    create.add_argument("--email", metavar="E", help="address told when deliveries fail")
    add_json_option(create)
    create.set_defaults(handler=run_create)

    subscribe = actions.add_parser("subscribe", help="send a pattern's events to an endpoint")
    add_db_option(subscribe, nested=True)
    subscribe.add_argument("integration_id", metavar="ID")
    subscribe.add_argument("pattern", metavar="PATTERN", help="a topic, or one with '*' segments")
    subscribe.add_argument("endpoint", metavar="URL", help="an https:// endpoint")
    subscribe.add_argument(
        "--allow-future-topics",
        action="store_true",
        help="accept a pattern that matches no topic yet (otherwise refused as a likely typo)",
    )
    subscribe.add_argument(
        "--header-env",
        action="append",
        default=[],
        metavar="NAME=VAR",
        help="send header NAME on every delivery, its value read from $VAR (repeatable; e.g. "
        "Authorization=HOOK_AUTH); values are secrets, never shown",
    )
    subscribe.add_argument(
        "--rate-limit",
        type=_rate_limit,
        metavar="N",
        help="deliveries per second the endpoint gets at most (0.01 to 10000; default: no limit)",
    )
    subscribe.add_argument("--allow-insecure-endpoints", action="store_true", help=_INSECURE_HELP)
    add_json_option(subscribe)
    subscribe.set_defaults(handler=run_subscribe)

    limit = actions.add_parser(
        "rate-limit", help="change how many deliveries a second a subscription's endpoint gets"
    )
    add_db_option(limit, nested=True)
    limit.add_argument("subscription_id", metavar="SUBSCRIPTION_ID")
    limit.add_argument(
        "rate_limit",
        type=_rate_limit,
        metavar="N|none",
        help="deliveries per second at most (0.01 to 10000), or 'none' to lift the limit",
    )
    add_json_option(limit)
    limit.set_defaults(handler=run_rate_limit)

    deactivate = actions.add_parser(
        "deactivate", help="disconnect: stop all deliveries now, cancel pending ones"
    )
    add_db_option(deactivate, nested=True)
    deactivate.add_argument("integration_id", metavar="ID")
    add_json_option(deactivate)
    deactivate.set_defaults(handler=run_deactivate)


def _subscription_record(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "pattern": subscription.pattern,
        "endpoint": subscription.endpoint,
        "active": subscription.active,
        "disabled_reason": subscription.disabled_reason,
        "header_names": subscription.header_names,
        "rate_limit": subscription.rate_limit,
        "created_at": subscription.created_at.isoformat(),
    }


def _integration_record(
    integration: Integration, subscriptions: list[Subscription]
) -> dict[str, Any]:
    # The secrets' values are left out on purpose; how many there are is useful (rotation).
    return {
        "id": integration.id,
        "tenant": integration.tenant,
        "active": integration.active,
        "notification_email": integration.notification_email,
        "secrets": len(integration.secrets),
        "created_at": integration.created_at.isoformat(),
        "subscriptions": [_subscription_record(s) for s in subscriptions],
    }


def run_list(args: argparse.Namespace) -> int:
    """List integrations with their subscriptions."""
    with opened_dispatcher(args.db) as dispatcher:
        hooks = dispatcher.integrations
        listed = [(i, hooks.subscriptions(i.id)) for i in hooks.list(args.tenant)]
    if args.json:
        print_json([_integration_record(i, subs) for i, subs in listed])
        return EXIT_OK
    console = stdout_console()
    if not listed:
        console.print("no integrations")
        return EXIT_OK
    for integration, subscriptions in listed:
        state = "[green]active[/]" if integration.active else "[yellow]deactivated[/]"
        notify = escape(integration.notification_email or "nobody (no notification e-mail)")
        console.print(
            f"[bold]{integration.id}[/]  tenant {escape(integration.tenant)}, {state}, "
            f"failures e-mailed to {notify}"
        )
        if not subscriptions:
            console.print("  no subscriptions")
        width = max((len(s.pattern) for s in subscriptions), default=0)
        for subscription in subscriptions:
            paused = (
                ""
                if subscription.active
                else f" [yellow](paused: {escape(subscription.disabled_reason or 'off')})[/]"
            )
            console.print(
                f"  {subscription.id}  {escape(subscription.pattern.ljust(width))} -> "
                f"{escape(subscription.endpoint)}{paused}{_header_note(subscription)}",
                overflow="fold",
            )
    return EXIT_OK


def _header_note(subscription: Subscription) -> str:
    notes = []
    if subscription.rate_limit is not None:
        notes.append(f"at most {subscription.rate_limit:g}/s")
    if subscription.header_names:
        notes.append(f"headers: {escape(', '.join(subscription.header_names))}")
    return f" [dim]({'; '.join(notes)})[/]" if notes else ""


def _rate_limit(text: str) -> float | None:
    """``--rate-limit``'s value: a number of deliveries per second, or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        return check_rate_limit(float(text))
    except ValueError as exc:
        problem = str(exc) if "between" in str(exc) else "must be a number, e.g. 5 or 0.5"
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}") from None


def _headers_from_env(given: list[str]) -> dict[str, str]:
    """``NAME=VAR`` options as headers, each value read from ``$VAR``."""
    headers: dict[str, str] = {}
    for option in given:
        name, equals, variable = option.partition("=")
        if not equals or not name or not variable:
            raise CommandError(
                f"--header-env {option!r}: use NAME=VAR, e.g. Authorization=HOOK_AUTH", EXIT_USAGE
            )
        headers[name] = read_env_secret(variable)
    return headers


def run_create(args: argparse.Namespace) -> int:
    """Install an integration."""
    secret = read_env_secret(args.secret_env)
    with opened_dispatcher(args.db, must_exist=False) as dispatcher:
        integration = dispatcher.integrations.install(
            args.tenant, secret=secret, notification_email=args.email
        )
    if args.json:
        print_json(_integration_record(integration, []))
    else:
        stdout_console().print(
            f"installed {integration.id} for tenant {escape(integration.tenant)} "
            f"(secret from ${args.secret_env}; not shown)"
        )
    return EXIT_OK


def run_subscribe(args: argparse.Namespace) -> int:
    """Subscribe an endpoint to a pattern."""
    from acadio_webhooks.domain.topics import TOPICS

    console = stdout_console()
    headers = _headers_from_env(args.header_env)
    if args.allow_insecure_endpoints and not args.json:
        console.print("[yellow]insecure endpoints allowed: local development and tests only[/]")
    with opened_dispatcher(
        args.db, allow_insecure_endpoints=args.allow_insecure_endpoints
    ) as dispatcher:
        subscription = dispatcher.integrations.subscribe(
            args.integration_id,
            args.pattern,
            args.endpoint,
            headers=headers,
            rate_limit=args.rate_limit,
            allow_future_topics=args.allow_future_topics,
        )
    topics = [topic.name for topic in TOPICS.matching(subscription.pattern)]
    if args.json:
        print_json({**_subscription_record(subscription), "topics": topics})
        return EXIT_OK
    console.print(
        f"subscribed {subscription.id}: {escape(subscription.pattern)} -> "
        f"{escape(subscription.endpoint)} ({plural(len(topics), 'topic')} today)"
        f"{_header_note(subscription)}"
    )
    return EXIT_OK


def run_rate_limit(args: argparse.Namespace) -> int:
    """Change or lift a subscription's rate limit."""
    with opened_dispatcher(args.db) as dispatcher:
        subscription = dispatcher.integrations.update_subscription(
            args.subscription_id, rate_limit=args.rate_limit
        )
    if args.json:
        print_json(_subscription_record(subscription))
    elif subscription.rate_limit is None:
        stdout_console().print(f"{subscription.id}: no rate limit")
    else:
        stdout_console().print(
            f"{subscription.id}: at most {subscription.rate_limit:g} deliveries a second"
        )
    return EXIT_OK


def run_deactivate(args: argparse.Namespace) -> int:
    """Deactivate an integration."""
    with opened_dispatcher(args.db) as dispatcher:
        integration = dispatcher.integrations.deactivate(args.integration_id)
    if args.json:
        print_json({"id": integration.id, "active": integration.active})
    else:
        stdout_console().print(
            f"deactivated {integration.id} at {format_when(integration.updated_at)}: "
            "nothing more is sent; pending deliveries are cancelled"
        )
    return EXIT_OK

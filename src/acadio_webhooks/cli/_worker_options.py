"""The options of ``acadio-webhooks worker`` and the notifier its ``--smtp-*`` options build."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, get_args

from acadio_webhooks.adapters.transport.default import TransportName
from acadio_webhooks.cli._common import EXIT_USAGE, CommandError, read_env_secret
from acadio_webhooks.cli._values import port_number, positive_float, positive_int, retention_period
from acadio_webhooks.event_loop import EventLoopName
from acadio_webhooks.pruning import DEFAULT_RETENTION

if TYPE_CHECKING:
    from acadio_webhooks.ports.notifier import Notifier

__all__ = ["add_worker_options", "build_notifier"]


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    """Pacing, transport, retention, metrics and SMTP options (``--db`` is added apart)."""
    pacing = parser.add_argument_group("pacing")
    pacing.add_argument(
        "--concurrency",
        type=positive_int,
        default=50,
        metavar="N",
        help="attempts in flight at once (default 50)",
    )
    pacing.add_argument(
        "--per-endpoint",
        type=positive_int,
        default=10,
        metavar="N",
        help="attempts in flight at once to one endpoint (default 10)",
    )
    pacing.add_argument(
        "--poll-interval",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="seconds between looks for due work when idle (default 1)",
    )
    pacing.add_argument(
        "--lease",
        type=positive_float,
        default=300.0,
        metavar="S",
        help="seconds a claimed delivery stays reserved; a worker that dies loses nothing, "
        "its deliveries are claimable again after this (default 300; keep it well above the "
        "20 s attempt timeout)",
    )
    parser.add_argument(
        "--retention",
        type=retention_period,
        default=DEFAULT_RETENTION,
        metavar="AGE",
        help="delete delivery history older than AGE, once all its deliveries are final: one "
        "worker of the fleet prunes, hourly (default 30d; forever keeps everything)",
    )
    parser.add_argument(
        "--transport",
        choices=("auto", *get_args(TransportName)),
        default="auto",
        help="HTTP client for attempts (default auto: the one that spends the least CPU per "
        "attempt among those installed: httptools, then aiohttp, from their extras, else "
        "httpx)",
    )
    parser.add_argument(
        "--event-loop",
        choices=get_args(EventLoopName),
        default="auto",
        help="event loop (default auto: uvloop when the uvloop extra is installed, as it "
        "spends less CPU per attempt, else asyncio's)",
    )
    parser.add_argument(
        "--allow-insecure-endpoints",
        action="store_true",
        help="deliver to http:// and loopback/private endpoints: local development and tests ONLY",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level on stderr (default INFO; DEBUG logs every attempt)",
    )
    metrics = parser.add_argument_group("metrics and traces")
    metrics.add_argument(
        "--metrics-port",
        type=port_number,
        metavar="N",
        help="serve the delivery metrics and the store's backlog at http://HOST:N/metrics "
        "(needs the prometheus extra)",
    )
    metrics.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address to serve metrics on (default 127.0.0.1: loopback only)",
    )
    metrics.add_argument(
        "--metrics-endpoint-host",
        action="store_true",
        help="label attempt counts and durations with the endpoint's host: one series per "
        "host, so only with few endpoints",
    )
    metrics.add_argument(
        "--otel",
        action="store_true",
        help="trace emits and attempts and record the metrics through OpenTelemetry's global "
        "providers (set up by the SDK, e.g. under opentelemetry-instrument; needs the otel "
        "extra)",
    )
    smtp = parser.add_argument_group("failure e-mails (SMTP)")
    smtp.add_argument(
        "--smtp-host", metavar="HOST", help="mail server; without it, notices are logged"
    )
    smtp.add_argument(
        "--smtp-port", type=int, metavar="PORT", help="default 25/587/465 by security"
    )
    smtp.add_argument(
        "--smtp-from", metavar="ADDR", help="sender address (required with --smtp-host)"
    )
    smtp.add_argument("--smtp-user", metavar="USER", help="log in as USER (needs TLS)")
    smtp.add_argument(
        "--smtp-password-env", metavar="VAR", help="environment variable holding the password"
    )
    smtp.add_argument(
        "--smtp-security",
        choices=("starttls", "ssl", "none"),
        default="starttls",
        help="connection security (default starttls)",
    )


_DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}


def build_notifier(args: argparse.Namespace) -> Notifier:
    """An SMTP notifier from the ``--smtp-*`` options, or a logging one without a host."""
    from acadio_webhooks.adapters.notifier.logging import LoggingNotifier
    from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier

    if not args.smtp_host:
        if args.smtp_from or args.smtp_user or args.smtp_password_env:
            raise CommandError(
                "--smtp-from/--smtp-user/--smtp-password-env need --smtp-host", EXIT_USAGE
            )
        return LoggingNotifier()
    if not args.smtp_from:
        raise CommandError("--smtp-host needs --smtp-from (the sender address)", EXIT_USAGE)
    if bool(args.smtp_user) != bool(args.smtp_password_env):
        raise CommandError("give --smtp-user and --smtp-password-env together", EXIT_USAGE)
    password = read_env_secret(args.smtp_password_env) if args.smtp_password_env else None
    try:
        return SmtpNotifier(
            args.smtp_host,
            args.smtp_port or _DEFAULT_PORTS[args.smtp_security],
            sender=args.smtp_from,
            username=args.smtp_user,
            password=password,
            security=args.smtp_security,
        )
    except ValueError as exc:
        raise CommandError(f"SMTP settings refused: {exc}", EXIT_USAGE) from None

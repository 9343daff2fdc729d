"""``acadio-webhooks sign`` and ``verify``: debug a receiver without an LMS.

``sign`` prints the headers a delivery of a body would carry; ``verify`` checks a captured
request the way a receiver's ``verify()`` call does and says why it fails. Secrets are read
from the command line or the environment and are never printed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from acadio_webhooks.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_command,
    add_json_option,
    add_secret_options,
    format_when,
    print_json,
    read_bytes,
    read_secrets,
    stdout_console,
)

__all__ = ["register", "parse_header_line"]

_SIGN_DESCRIPTION = """\
Print the headers one delivery attempt of a body would carry: X-Acadio-Hmac-Sha256,
X-Acadio-Topic and the Standard Webhooks webhook-id/-timestamp/-signature. The topic and
event id are read from the body ("topic", "id") unless given. The secret is never printed.

examples:
  export HOOK_SECRET=...   # the integration's secret key
  acadio-webhooks sign --secret-env HOOK_SECRET --body event.json
  acadio-webhooks sign --secret-env HOOK_SECRET --body event.json > headers.txt
  curl -H @headers.txt --data-binary @event.json http://127.0.0.1:8000/hooks
"""

_VERIFY_DESCRIPTION = """\
Check a received request as a receiver's verify() call would: print the decoded event, or
the reason it was refused (exit 1). Give the raw body exactly as received.

examples:
  acadio-webhooks verify --secret-env HOOK_SECRET --body body.json --headers-file headers.txt
  acadio-webhooks verify --secret-env HOOK_SECRET --body body.json \\
      --header 'webhook-id: evt_...' --header 'webhook-timestamp: 1767225600' \\
      --header 'webhook-signature: v1,...' --tolerance 86400
  acadio-webhooks verify --secret-env HOOK_SECRET --body body.json --allow-untimestamped \\
      --header 'X-Acadio-Hmac-Sha256: ...'
"""


def register(commands: Any) -> None:
    """Add the ``sign`` and ``verify`` subcommands."""
    sign_summary = "print the signature headers for a body (receiver debugging)"
    sign = add_command(commands, "sign", sign_summary, _SIGN_DESCRIPTION)
    add_secret_options(sign)
    sign.add_argument("--body", required=True, metavar="FILE", help="the body ('-': stdin)")
    sign.add_argument("--topic", metavar="T", help="X-Acadio-Topic (default: the body's topic)")
    sign.add_argument("--event-id", metavar="ID", help="webhook-id (default: the body's id)")
    sign.add_argument(
        "--timestamp",
        type=int,
        metavar="N",
        help="webhook-timestamp in unix seconds (default: now)",
    )
    add_json_option(sign)
    sign.set_defaults(handler=run_sign)

    verify_summary = "check a received request's signature and decode its event"
    verify = add_command(commands, "verify", verify_summary, _VERIFY_DESCRIPTION)
    add_secret_options(verify)
    verify.add_argument("--body", required=True, metavar="FILE", help="the raw body ('-': stdin)")
    verify.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeat for each)",
    )
    verify.add_argument(
        "--headers-file",
        metavar="FILE",
        help="request headers, one 'Name: value' per line (the output of 'sign')",
    )
    verify.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="N",
        help="seconds webhook-timestamp may be away from now (default 300)",
    )
    verify.add_argument(
        "--allow-untimestamped",
        action="store_true",
        help="also accept a request signed only with X-Acadio-Hmac-Sha256 (no replay protection)",
    )
    add_json_option(verify)
    verify.set_defaults(handler=run_verify)


def _body_field(body: bytes, name: str) -> str | None:
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    value = decoded.get(name) if isinstance(decoded, dict) else None
    return value if isinstance(value, str) else None


def run_sign(args: argparse.Namespace) -> int:
    """Print the headers for ``--body``."""
    from acadio_webhooks.domain.signing import sign

    secrets = read_secrets(args)
    body = read_bytes(args.body, "body file")
    topic = args.topic or _body_field(body, "topic")
    event_id = args.event_id or _body_field(body, "id")
    if topic is None:
        raise CommandError('the body has no "topic": pass --topic', EXIT_USAGE)
    if event_id is None:
        raise CommandError('the body has no "id": pass --event-id', EXIT_USAGE)
    timestamp = int(time.time()) if args.timestamp is None else args.timestamp
    headers = sign(body, secrets, event_id=event_id, topic=topic, timestamp=timestamp)
    if args.json:
        print_json({"headers": headers})
    else:
        for name, value in headers.items():
            print(f"{name}: {value}")
    return EXIT_OK


def parse_header_line(line: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``("Name", "value")``; an error when there is no colon."""
    name, colon, value = line.partition(":")
    if not colon or not name.strip():
        raise CommandError(f"cannot read header {line!r}: write it as 'Name: value'", EXIT_USAGE)
    return name.strip(), value.strip()


def _headers(args: argparse.Namespace) -> list[tuple[str, str]]:
    lines: list[str] = []
    if args.headers_file:
        try:
            text = Path(args.headers_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(
                f"cannot read headers file {args.headers_file}: {exc}", EXIT_USAGE
            ) from None
        lines.extend(line for line in text.splitlines() if line.strip())
    lines.extend(args.header)
    if not lines:
        raise CommandError(
            "no headers given: pass --header 'Name: value' or --headers-file", EXIT_USAGE
        )
    return [parse_header_line(line) for line in lines]


class _HeaderList:
    """Header pairs for ``verify()``, which reads anything with ``items()``."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self._pairs


def run_verify(args: argparse.Namespace) -> int:
    """Verify ``--body`` with the given headers; exit 1 when it does not verify."""
    from acadio_webhooks.domain.verification import DEFAULT_TOLERANCE, verify
    from acadio_webhooks.errors import VerificationError

    secrets = read_secrets(args)
    body = read_bytes(args.body, "body file")
    headers = _HeaderList(_headers(args))
    tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
    if tolerance < 0:
        raise CommandError("--tolerance must not be negative", EXIT_USAGE)
    try:
        event = verify(
            body,
            headers,
            secrets,
            tolerance=tolerance,
            require_timestamp=not args.allow_untimestamped,
        )
    except VerificationError as exc:
        if args.json:
            print_json({"valid": False, "reason": exc.reason, "error": str(exc)})
        else:
            stdout_console().print(f"[bold red]not valid[/] ({exc.reason}): {escape(str(exc))}")
        return EXIT_FAILURE
    decoded = {
        "id": event.id,
        "topic": event.topic,
        "created_at": event.created_at.isoformat(),
        "tenant": event.tenant,
        "data": event.data,
    }
    if args.json:
        print_json({"valid": True, "event": decoded})
        return EXIT_OK
    console = stdout_console()
    console.print("[bold green]valid[/]: the signature matches and the event decodes")
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_row("id", event.id)
    table.add_row("topic", event.topic)
    table.add_row("created_at", format_when(event.created_at))
    table.add_row("tenant", event.tenant)
    console.print(table)
    console.print("data:")
    console.print_json(json.dumps(event.data))
    return EXIT_OK

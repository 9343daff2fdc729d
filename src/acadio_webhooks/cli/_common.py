"""What every subcommand shares: exit codes, errors, the database option, secrets, output."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from acadio_webhooks.adapters.storage.secret_box import SECRET_KEY_ENV
from acadio_webhooks.errors import (
    AcadioWebhooksError,
    InvalidEndpoint,
    InvalidInput,
    InvalidPattern,
    InvalidPayload,
    InvalidTopic,
    PatternMatchesNothing,
    SigningError,
    UnknownTopic,
)

if TYPE_CHECKING:
    from acadio_webhooks.adapters.storage.secret_box import SecretBox
    from acadio_webhooks.adapters.storage.sql import SqlStore
    from acadio_webhooks.dispatcher import Dispatcher
    from acadio_webhooks.ports.storage import Store

__all__ = [
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "DB_ENV",
    "SECRET_KEY_ENV",
    "PROG",
    "CommandError",
    "warn",
    "exit_code_for",
    "stdout_console",
    "print_json",
    "add_db_option",
    "add_json_option",
    "database_url",
    "display_url",
    "read_secrets",
    "read_env_secret",
    "add_secret_options",
    "parse_since",
    "RELATIVE_TIME",
    "TIME_UNITS",
    "read_bytes",
    "secret_box_from_env",
    "open_cli_store",
    "opened_dispatcher",
    "format_when",
    "plural",
]

EXIT_OK = 0
EXIT_FAILURE = 1
"""The command ran and failed: verification failed, an id was not found, the store failed."""
EXIT_USAGE = 2
"""The command line was wrong: a missing option, a bad pattern, a file that cannot be read."""

PROG = "acadio-webhooks"

DB_ENV = "ACADIO_WEBHOOKS_DB"

# Errors about what the user typed: exit 2, like argparse's own usage errors.
_USAGE_ERRORS: tuple[type[AcadioWebhooksError], ...] = (
    InvalidTopic,
    InvalidPattern,
    UnknownTopic,
    PatternMatchesNothing,
    InvalidEndpoint,
    InvalidPayload,
    InvalidInput,
    SigningError,
)


class CommandError(AcadioWebhooksError):
    """A subcommand cannot go on; ``main`` prints the message on one line and exits.

    Internal to the command line: ``main`` turns it into an exit code, so it never reaches
    library callers.
    """

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def warn(message: str) -> None:
    """One warning line on stderr, where errors go too."""
    sys.stderr.write(f"{PROG}: warning: {message}\n")


def exit_code_for(error: AcadioWebhooksError) -> int:
    """2 for input the user typed wrong, 1 for everything that failed while running."""
    if isinstance(error, CommandError):
        return error.exit_code
    return EXIT_USAGE if isinstance(error, _USAGE_ERRORS) else EXIT_FAILURE


_PIPED_WIDTH = 160


def stdout_console(*, wide_when_piped: bool = True) -> Console:
    """A console on the current ``sys.stdout`` (looked up per call, so tests can capture it).

    Output redirected to a file or a pipe is drawn ``_PIPED_WIDTH`` columns wide (unless
    ``$COLUMNS`` says otherwise), so ids in tables are never folded for whoever reads it;
    a terminal gets its own width.
    """
    console = Console(file=sys.stdout, highlight=False)
    if wide_when_piped and not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = max(console.width, _PIPED_WIDTH)
    return console


def print_json(value: Any) -> None:
    """Write ``value`` as one JSON document on stdout, for scripts (never through rich)."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def add_command(
    commands: Any, name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` to ``commands`` (argparse's subparsers): ``summary`` in the
    list of commands, ``description`` (examples included) in its own ``--help``, as written."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_db_option(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """``--db URL``; on nested subcommands it may also follow the subcommand name."""
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS if nested else None,
        help=(
            "the webhooks database: sqlite:///path.db, postgresql://..., mysql://..., or a "
            f"file path (SQLite); default: ${DB_ENV}. Signing secrets in it are sealed with "
            f"the key(s) in ${SECRET_KEY_ENV} when set"
        ),
    )


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json``: machine-readable output on stdout."""
    parser.add_argument(
        "--json", action="store_true", help="print JSON instead of tables (for scripts)"
    )


def database_url(value: str | None, *, must_exist: bool = True) -> str:
    """The store URL from ``--db`` or ``$ACADIO_WEBHOOKS_DB``; a bare path means SQLite.

    With ``must_exist``, a SQLite file that is not there is an error instead of a new empty
    database (a typo would otherwise list nothing, silently).
    """
    raw = value or os.environ.get(DB_ENV)
    if not raw:
        raise CommandError(
            f"no database given: pass --db URL or set {DB_ENV} (e.g. sqlite:///webhooks.db)",
            EXIT_USAGE,
        )
    if "://" not in raw:
        raw = f"sqlite:///{Path(raw).expanduser().resolve()}"
    if must_exist and raw.startswith("sqlite:///"):
        path = raw.removeprefix("sqlite:///").split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            raise CommandError(f"database file {path} does not exist", EXIT_USAGE)
    return raw


def display_url(url: str) -> str:
    """The store URL without its password, for logs and messages."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return re.sub(r"//[^@/]*@", "//***@", url)


def secret_box_from_env() -> SecretBox | None:
    """A ``FernetSecretBox`` of the keys in ``$ACADIO_WEBHOOKS_SECRET_KEY``, None when unset.

    Errors name the variable and which key is wrong, never a key.
    """
    from acadio_webhooks.adapters.storage import secret_box

    try:
        return secret_box.secret_box_from_env()
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except ImportError as exc:
        raise CommandError(str(exc)) from None


def open_cli_store(db: str | None, *, must_exist: bool = True) -> Store:
    """The store ``--db`` names, with errors that say which database and what is wrong.

    Signing secrets are sealed and opened with the keys of ``$ACADIO_WEBHOOKS_SECRET_KEY``;
    a store holding sealed secrets that the keys (or their absence) cannot open is refused,
    so a wrong key shows here and no command writes new secrets in the clear beside them.
    """
    from acadio_webhooks.adapters.storage import open_store
    from acadio_webhooks.adapters.storage.sql import SqlStore
    from acadio_webhooks.errors import StorageError

    url = database_url(db, must_exist=must_exist)
    box = secret_box_from_env()
    options = {} if box is None or url.strip() == "memory://" else {"secret_box": box}
    try:
        store = open_store(url, **options)
        if isinstance(store, SqlStore):
            try:
                _check_sealed_secrets(store, url, keyed=box is not None)
            except BaseException:
                store.close()
                raise
    except ValueError as exc:  # a URL of an unsupported kind
        raise CommandError(f"cannot use database {display_url(url)}: {exc}", EXIT_USAGE) from None
    except ImportError as exc:  # a driver extra that is not installed
        raise CommandError(f"cannot open database {display_url(url)}: {exc}") from None
    except StorageError as exc:
        raise CommandError(f"cannot open database {display_url(url)}: {exc}") from None
    return store


def _check_sealed_secrets(store: SqlStore, url: str, *, keyed: bool) -> None:
    """Refuse a store whose sealed secrets the configured key(s) cannot open at all."""
    sealed = store.check_sealed_secrets()
    unopened = [ident for ident, opens in sealed.items() if not opens]
    if not unopened:
        return
    where = display_url(url)
    if not keyed or len(unopened) == len(sealed):
        if not keyed:
            raise CommandError(
                f"the signing secrets in {where} are encrypted: set {SECRET_KEY_ENV} to the key "
                "that sealed them",
                EXIT_USAGE,
            )
        raise CommandError(
            f"{SECRET_KEY_ENV} does not open the signing secrets in {where} "
            "(a wrong or retired key?)"
        )
    # Some open: a rotation dropped an old key too soon, say. Say which, and go on: the
    # others' deliveries must not wait for these.
    shown = ", ".join(unopened[:5]) + (", ..." if len(unopened) > 5 else "")
    warn(
        f"{SECRET_KEY_ENV} does not open the signing secrets of "
        f"{plural(len(unopened), 'integration')} ({shown}): they cannot be read or signed for "
        "until the key that sealed them is added"
    )


@contextmanager
def opened_dispatcher(
    db: str | None, *, must_exist: bool = True, allow_insecure_endpoints: bool = False
) -> Iterator[Dispatcher]:
    """A sync ``Dispatcher`` on the ``--db`` store, closed afterwards."""
    from acadio_webhooks.dispatcher import Dispatcher
    from acadio_webhooks.domain.endpoints import EndpointPolicy

    store = open_cli_store(db, must_exist=must_exist)
    dispatcher = Dispatcher(
        store, endpoint_policy=EndpointPolicy(allow_insecure=allow_insecure_endpoints)
    )
    try:
        yield dispatcher
    finally:
        dispatcher.close()


def add_secret_options(parser: argparse.ArgumentParser) -> None:
    """``--secret S`` / ``--secret-env VAR``, each repeatable (several during a rotation)."""
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="S",
        help="the integration's secret key (repeat during a rotation); prefer --secret-env, "
        "which keeps it out of shell history and the process list",
    )
    parser.add_argument(
        "--secret-env",
        action="append",
        default=[],
        metavar="VAR",
        help="read the secret from environment variable VAR (repeatable)",
    )


def read_env_secret(variable: str) -> str:
    """The value of ``$variable``; an error naming the variable (never a value) when unset."""
    value = os.environ.get(variable)
    if not value:
        raise CommandError(f"environment variable {variable} is not set or empty", EXIT_USAGE)
    return value


def read_secrets(args: argparse.Namespace) -> list[str]:
    """Secrets from ``--secret`` and ``--secret-env``, in the order given; at least one."""
    secrets = [*args.secret, *(read_env_secret(name) for name in args.secret_env)]
    if not secrets:
        raise CommandError("a secret is needed: pass --secret-env VAR or --secret S", EXIT_USAGE)
    if any(not secret for secret in secrets):
        raise CommandError("a secret must not be empty", EXIT_USAGE)
    return secrets


RELATIVE_TIME = re.compile(r"([0-9]+)\s*([smhdw])")
TIME_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no offset is given) or a look-back like ``30m``/``24h``/``7d``."""
    relative = RELATIVE_TIME.fullmatch(text.strip())
    current = now or datetime.now(timezone.utc)
    if relative:
        amount, unit = relative.groups()
        return current - timedelta(**{TIME_UNITS[unit]: int(amount)})
    iso = text.strip()
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"  # fromisoformat before Python 3.11 does not read "Z"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise CommandError(
            f"cannot read time {text!r}: use ISO 8601 (2026-03-01T09:00:00Z) or a look-back "
            "such as 30m, 24h, 7d",
            EXIT_USAGE,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def read_bytes(path: str, what: str) -> bytes:
    """The bytes of file ``path`` (``-`` reads standard input)."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(
            f"cannot read {what} {path}: {exc.strerror or exc}", EXIT_USAGE
        ) from None


def format_when(moment: datetime | None) -> str:
    """``2026-03-01 09:00:00Z`` for tables (``-`` for none)."""
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 attempt``, ``7 attempts``; ``many`` for irregular plurals."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"

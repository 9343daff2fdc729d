"""The ``acadio-webhooks`` command line: a demo, topics, signing, deliveries, a worker.

::

    acadio-webhooks demo                              # the main job, locally, in seconds
    acadio-webhooks topics --pattern 'course/*'       # what would this pattern receive?
    acadio-webhooks sign / verify                     # debug a receiver
    acadio-webhooks deliveries --db URL list|show|resend|resend-failed
    acadio-webhooks integrations --db URL list|create|subscribe|deactivate
    acadio-webhooks worker --db URL                   # deliver until SIGTERM
    acadio-webhooks prune --db URL --older-than 30d   # delete old, final history
    acadio-webhooks erase --db URL --subject S --yes  # an erasure request

Built on :mod:`argparse` rather than typer or click: it is the standard library, so the
command adds no dependency beyond the core package (rich, already a core dependency, draws
the tables), and ``python -m acadio_webhooks`` works wherever the package is installed.

Exit codes: 0 success; 1 the command ran and failed (verification failed, an id not found,
the store failed); 2 the command line was wrong (a missing option, an invalid pattern, an
unreadable file). Errors are one line on stderr, never a traceback; secrets are never printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from acadio_webhooks._version import __version__
from acadio_webhooks.cli import (
    _deliveries,
    _demo,
    _erase,
    _integrations,
    _prune,
    _signing,
    _topics,
    _worker,
)
from acadio_webhooks.cli._common import DB_ENV, EXIT_USAGE, PROG, CommandError, exit_code_for
from acadio_webhooks.errors import AcadioWebhooksError

__all__ = ["DB_ENV", "main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of every subcommand (each module registers its own)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Signed, durable, retried webhooks for a learning-management system.",
        epilog="Run '%(prog)s COMMAND --help' for a command's options and examples. "
        "--db defaults to $ACADIO_WEBHOOKS_DB; signing secrets are sealed at rest with the "
        "Fernet key(s) in $ACADIO_WEBHOOKS_SECRET_KEY when it is set.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True
    for module in (
        _demo,
        _topics,
        _signing,
        _deliveries,
        _integrations,
        _worker,
        _prune,
        _erase,
    ):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Usage errors exit 2 (argparse's convention), operational failures 1.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        if exit_.code is None:
            return 0
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    try:
        code: int = args.handler(args)
    except CommandError as exc:
        _fail(str(exc))
        return exc.exit_code
    except AcadioWebhooksError as exc:
        _fail(str(exc))
        return exit_code_for(exc)
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    return code


def _fail(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")

"""``manage.py acadio_webhooks <command> ...``: the ``acadio-webhooks`` command line on the
project's webhooks database (``ACADIO_WEBHOOKS['DATABASE']``).

    manage.py acadio_webhooks worker --concurrency 50
    manage.py acadio_webhooks integrations list
    manage.py acadio_webhooks deliveries list --status failed
    manage.py acadio_webhooks prune --older-than 30d

Every subcommand and option of ``acadio-webhooks`` works here; ``--db`` is filled in, and
``ALLOW_INSECURE_ENDPOINTS`` reaches ``worker`` and ``integrations subscribe``.
``worker`` runs until SIGTERM or SIGINT and then stops gracefully, as under systemd or
supervisor.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from acadio_webhooks.cli import DB_ENV, main
from acadio_webhooks.contrib.django._conf import load_settings, store_url


class Command(BaseCommand):
    help = (
        "Run an acadio-webhooks command (worker, integrations, deliveries, prune, erase, ...) "
        "on the project's webhooks database. `manage.py acadio_webhooks --help` lists them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "arguments", nargs=argparse.REMAINDER, help="the acadio-webhooks command line"
        )

    def run_from_argv(self, argv: list[str]) -> None:
        # Everything after the command's name belongs to acadio-webhooks, --help included;
        # its exit code is the process's.
        sys.exit(_run(argv[2:]))

    def handle(self, *args: Any, **options: Any) -> None:
        arguments = [*args, *options.get("arguments", [])]
        code = _run(arguments)
        if code:
            raise CommandError(f"acadio-webhooks exited with {code}", returncode=code)


def _run(arguments: Sequence[str]) -> int:
    config = load_settings()
    url = store_url(config.database).render_as_string(hide_password=False)
    command = list(arguments)
    if config.allow_insecure_endpoints and _takes_endpoints(command):
        # The project's setting holds on its command line too (local development only).
        command.append("--allow-insecure-endpoints")
    with _environment(DB_ENV, url):
        return main(command)


def _takes_endpoints(command: Sequence[str]) -> bool:
    """Whether ``command`` is one that accepts ``--allow-insecure-endpoints``."""
    words = [word for word in command if not word.startswith("-")]
    return words[:1] == ["worker"] or words[:2] == ["integrations", "subscribe"]


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` for the block (the command line reads the database there,
    so a password never shows in an argument list)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before

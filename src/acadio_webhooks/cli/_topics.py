"""``acadio-webhooks topics``: the topic catalog, what one pattern would receive, or the
OpenAPI document receivers generate code from."""

from __future__ import annotations

import argparse
import os
import pkgutil
import sys
from typing import Any

from rich.table import Table

from acadio_webhooks.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_command,
    add_json_option,
    print_json,
    stdout_console,
)
from acadio_webhooks.domain.topics import TOPICS, TopicCatalog

__all__ = ["register"]

_DESCRIPTION = """\
List the topics subscribers can receive. With --pattern, list only the topics that
pattern matches: what would a subscription to 'course/*' receive? With --openapi, print
the OpenAPI 3.1 document for receivers: one webhook per topic, with its data schema and the
signature headers. --catalog names the host's own catalog (typed topics, added topics).

examples:
  acadio-webhooks topics
  acadio-webhooks topics --pattern 'course/*'
  acadio-webhooks topics --pattern '*/*/create' --json
  acadio-webhooks topics --openapi --catalog lms.webhooks:CATALOG > webhooks.openapi.json
"""


def register(commands: Any) -> None:
    """Add the ``topics`` subcommand."""
    parser = add_command(
        commands, "topics", "list the topic catalog, optionally filtered by a pattern", _DESCRIPTION
    )
    parser.add_argument(
        "--pattern",
        metavar="P",
        help="show only topics matching P ('*' is a whole segment; a trailing '*' matches "
        "one or more segments)",
    )
    parser.add_argument(
        "--catalog",
        metavar="MODULE:NAME",
        help="the host's TopicCatalog, imported as MODULE:NAME (default: the 16 documented topics)",
    )
    parser.add_argument(
        "--openapi",
        action="store_true",
        help="print the OpenAPI 3.1 document describing every topic as a webhook (JSON)",
    )
    parser.add_argument(
        "--title", default="Acadio webhooks", help="the OpenAPI document's title (with --openapi)"
    )
    add_json_option(parser)
    parser.set_defaults(handler=run)


def catalog_named(text: str | None) -> TopicCatalog:
    """The :class:`TopicCatalog` at ``MODULE:NAME`` (``TOPICS`` for None); a usage error
    (exit 2) that says why for anything else."""
    if text is None:
        return TOPICS
    if ":" not in text:
        raise CommandError(
            f"--catalog {text!r} is not MODULE:NAME (e.g. lms.webhooks:CATALOG)", EXIT_USAGE
        )
    # As `python -m` would: the host's modules are found from the directory it runs in.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = pkgutil.resolve_name(text)
    except (ImportError, AttributeError, ValueError) as exc:
        raise CommandError(f"--catalog cannot import {text!r}: {exc}", EXIT_USAGE) from None
    if not isinstance(found, TopicCatalog):
        raise CommandError(
            f"--catalog {text!r} is a {type(found).__name__}, not a TopicCatalog", EXIT_USAGE
        )
    return found


def run(args: argparse.Namespace) -> int:
    """List the catalog (filtered by ``--pattern``), or print its OpenAPI document."""
    from acadio_webhooks.domain.patterns import Pattern

    catalog = catalog_named(args.catalog)
    if args.openapi:
        if args.pattern is not None:
            raise CommandError(
                "--openapi describes the whole catalog; leave out --pattern", EXIT_USAGE
            )
        from acadio_webhooks.domain.webhooks_openapi import webhooks_openapi

        print_json(webhooks_openapi(catalog, title=args.title))
        return EXIT_OK
    topics = list(catalog) if args.pattern is None else catalog.matching(Pattern(args.pattern))
    if args.json:
        print_json(
            [
                {
                    "name": topic.name,
                    "title": topic.title,
                    "description": topic.description,
                    "once_per_day": topic.once_per_day,
                    "note": topic.note,
                    "schema_version": None if topic.payload is None else topic.payload.version,
                }
                for topic in topics
            ]
        )
        return EXIT_OK
    console = stdout_console()
    if not topics:
        console.print(f"pattern {args.pattern!r} matches no topic of the catalog")
        return EXIT_OK
    title = "Topics" if args.pattern is None else f"Topics matching {args.pattern!r}"
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("topic", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("description", ratio=2)
    for topic in topics:
        description = f"{topic.description} {topic.note}" if topic.note else topic.description
        table.add_row(topic.name, topic.title, description)
    console.print(table)
    console.print(f"{len(topics)} of {len(catalog)} topics")
    return EXIT_OK

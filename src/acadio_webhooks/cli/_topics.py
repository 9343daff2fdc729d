"""``acadio-webhooks topics``: the topic catalog, or what one pattern would receive."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from acadio_webhooks.cli._common import EXIT_OK, add_json_option, print_json, stdout_console

__all__ = ["register"]

_DESCRIPTION = """\
List the topics subscribers can receive. With --pattern, list only the topics that
pattern matches: what would a subscription to 'course/*' receive?

examples:
  acadio-webhooks topics
  acadio-webhooks topics --pattern 'course/*'
  acadio-webhooks topics --pattern '*/*/create' --json
"""


def register(commands: Any) -> None:
    """Add the ``topics`` subcommand."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "topics",
        help="list the topic catalog, optionally filtered by a pattern",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pattern",
        metavar="P",
        help="show only topics matching P ('*' is a whole segment; a trailing '*' matches "
        "one or more segments)",
    )
    add_json_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """List the catalog (filtered by ``--pattern``)."""
    from acadio_webhooks.domain.patterns import Pattern
    from acadio_webhooks.domain.topics import TOPICS

    topics = list(TOPICS) if args.pattern is None else TOPICS.matching(Pattern(args.pattern))
    if args.json:
        print_json(
            [
                {
                    "name": topic.name,
                    "title": topic.title,
                    "description": topic.description,
                    "once_per_day": topic.once_per_day,
                    "note": topic.note,
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
    console.print(f"{len(topics)} of {len(TOPICS)} topics")
    return EXIT_OK

"""docs/patterns.md states the pattern language to users: every example on it must hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from acadio_webhooks.domain.patterns import Pattern
from acadio_webhooks.domain.topics import TOPICS
from acadio_webhooks.errors import InvalidPattern

PAGE = Path(__file__).parents[2] / "docs" / "patterns.md"


def table_rows(heading: str) -> list[list[str]]:
    """The body rows of the first table under ``## heading``, split into cells."""
    section = PAGE.read_text(encoding="utf-8").split(f"## {heading}\n", 1)[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[2:]]


def codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]*)`", cell)


EXAMPLES = table_rows("Examples")
ERRORS = table_rows("What is refused, and what the error says")


def test_the_page_has_its_tables() -> None:
    assert len(EXAMPLES) >= 7
    assert len(ERRORS) >= 10


@pytest.mark.parametrize("row", EXAMPLES, ids=lambda row: row[0])
def test_example_rows_hold(row: list[str]) -> None:
    [pattern] = codes(row[0])
    parsed = Pattern(pattern)
    assert [topic for topic in codes(row[1]) if not parsed.matches(topic)] == []
    assert [topic for topic in codes(row[2]) if parsed.matches(topic)] == []


@pytest.mark.parametrize("row", ERRORS, ids=lambda row: row[0])
def test_error_rows_hold(row: list[str]) -> None:
    [expression] = codes(row[0])
    text = "a" * 256 if expression == '"a" * 256' else ast.literal_eval(expression)
    with pytest.raises(InvalidPattern) as caught:
        Pattern(text)
    assert caught.value.position == int(row[1])
    assert [caught.value.problem] == codes(row[2])


def test_topic_table_is_the_catalog() -> None:
    rows = table_rows("The documented topics")
    assert [codes(row[0])[0] for row in rows] == [topic.name for topic in TOPICS]
    for row, topic in zip(rows, TOPICS, strict=True):
        assert row[1] == topic.title
        assert row[2] == " ".join(filter(None, [topic.description, topic.note]))

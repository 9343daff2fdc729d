"""``acadio-webhooks topics``: the catalog, and what a pattern would receive."""

from __future__ import annotations

import json

from acadio_webhooks.domain.topics import TOPICS
from tests.cli.conftest import Run


def test_lists_every_documented_topic(run: Run) -> None:
    result = run("topics")
    assert result.code == 0
    for topic in TOPICS:
        assert topic.name in result.out
    assert f"{len(TOPICS)} of {len(TOPICS)} topics" in result.out


def test_json_lists_the_catalog_in_order(run: Run) -> None:
    result = run("topics", "--json")
    assert result.code == 0
    listed = json.loads(result.out)
    assert [entry["name"] for entry in listed] == [topic.name for topic in TOPICS]
    activity = next(entry for entry in listed if entry["name"] == "course/activity/create")
    assert activity["once_per_day"] is True


def test_pattern_shows_what_a_subscription_would_receive(run: Run) -> None:
    result = run("topics", "--pattern", "course/*", "--json")
    assert result.code == 0
    assert [entry["name"] for entry in json.loads(result.out)] == [
        "course/completion/create",
        "course/completion/update",
        "course/completion/report",
        "course/activity/create",
        "course/activity/update",
    ]


def test_inner_wildcard_matches_one_segment(run: Run) -> None:
    result = run("topics", "--pattern", "*/*/complete", "--json")
    assert [entry["name"] for entry in json.loads(result.out)] == [
        "assessment/session/complete",
        "surveys/survey/complete",
    ]


def test_invalid_pattern_is_a_usage_error_naming_the_position(run: Run) -> None:
    result = run("topics", "--pattern", "cour*")
    assert result.code == 2
    assert result.out == ""
    assert result.err.startswith("acadio-webhooks: error: invalid pattern 'cour*' at position 4")
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err


def test_pattern_matching_nothing_says_so(run: Run) -> None:
    result = run("topics", "--pattern", "cource/*")
    assert result.code == 0
    assert "matches no topic" in result.out
    assert json.loads(run("topics", "--pattern", "cource/*", "--json").out) == []

"""``acadio-webhooks topics``: the catalog, and what a pattern would receive."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from acadio_webhooks import webhooks_openapi
from acadio_webhooks.domain.topics import TOPICS
from tests.cli.conftest import Run
from tests.receivers import test_webhooks_openapi as receivers

RECEIVERS = receivers.__name__


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


def test_the_cli_prints_the_document_of_the_named_catalog(run: Run) -> None:
    result = run("topics", "--openapi", "--catalog", f"{RECEIVERS}:CATALOG", "--title", "LMS")
    assert result.code == 0, result.err
    assert json.loads(result.out) == webhooks_openapi(receivers.CATALOG, title="LMS")
    refused = run("topics", "--openapi", "--pattern", "course/*")
    assert refused.code == 2
    assert "leave out --pattern" in refused.err
    wrong = run("topics", "--catalog", f"{RECEIVERS}:SECRET")
    assert wrong.code == 2
    assert "is a str, not a TopicCatalog" in wrong.err


def test_the_catalog_is_found_in_the_directory_the_command_runs_in(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "northwind_hooks"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from acadio_webhooks import TOPICS\n"
        "CATALOG = TOPICS.copy()\n"
        "CATALOG.register('lab/result/create', 'Lab Result', 'A lab result was recorded.')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    result = run("topics", "--catalog", "northwind_hooks:CATALOG", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)[-1]["name"] == "lab/result/create"
    monkeypatch.delitem(sys.modules, "northwind_hooks")

"""``acadio-webhooks erase``: one subject's or tenant's events go, only with --yes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from tests.cli.conftest import Run


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Two events about student-7 (one delivered, one pending) and one about student-8."""
    url = f"sqlite:///{tmp_path / 'webhooks.db'}"
    with Dispatcher(
        url, transport=RecordingTransport(), endpoint_policy=EndpointPolicy(allow_insecure=True)
    ) as dispatcher:
        integration = dispatcher.integrations.install("tenant-1", secret="erase-secret-0123456789")
        dispatcher.integrations.subscribe(integration.id, "course/*", "http://127.0.0.1:9/hook")
        emit = dispatcher.emit
        emit("course/completion/create", {"n": 1}, tenant="tenant-1", subject="student-7")
        dispatcher.drain()
        emit("course/completion/create", {"n": 2}, tenant="tenant-1", subject="student-7")
        emit("course/completion/create", {"n": 3}, tenant="tenant-1", subject="student-8")
    return url


def _subjects(db: str) -> list[str | None]:
    with Dispatcher(db) as dispatcher:
        events = [dispatcher.event(d.event_id) for d in dispatcher.deliveries().items]
    return sorted((e.subject for e in events), key=str)


def test_erase_needs_yes_and_counts_with_dry_run(run: Run, db: str) -> None:
    refused = run("erase", "--db", db, "--subject", "student-7")
    counted = run("erase", "--db", db, "--subject", "student-7", "--dry-run", "--json")
    assert refused.code == 2
    assert "pass --yes to erase, or --dry-run to count first" in refused.err
    assert counted.code == 0, counted.err
    assert json.loads(counted.out) == {
        "subject": "student-7",
        "tenant": None,
        "dry_run": True,
        "events": 2,
        "deliveries": 2,
        "attempts": 1,
        "notifications": 0,
        "examined": 2,
    }
    assert _subjects(db) == ["student-7", "student-7", "student-8"]


def test_erase_with_yes_deletes_the_subjects_events_only(run: Run, db: str) -> None:
    result = run("erase", "--db", db, "--subject", "student-7", "--yes")
    assert result.code == 0, result.err
    assert "deleted 2 events, 2 deliveries, 1 attempt and 0 notices of subject 'student-7'" in (
        result.out.replace("\n", " ")
    )
    assert _subjects(db) == ["student-8"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--subject", "s", "--tenant", "t", "--yes"], "not allowed with argument"),
        (["--yes"], "one of the arguments --subject --tenant is required"),
        (["--subject", "", "--yes"], "need a non-empty value"),
        (["--subject", "s", "--yes", "--dry-run"], "not allowed with argument"),
    ],
)
def test_erase_usage_errors_change_nothing(
    run: Run, db: str, options: list[str], message: str
) -> None:
    result = run("erase", "--db", db, *options)
    assert result.code == 2
    assert message in result.err
    assert len(_subjects(db)) == 3

"""``acadio-webhooks prune``: old, final history goes; a dry run and bad ages change nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from tests.cli.conftest import Run


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Two deliveries made 40 days ago and one made today, all delivered."""
    url = f"sqlite:///{tmp_path / 'webhooks.db'}"
    clock = FakeClock(datetime.now(timezone.utc) - timedelta(days=40))
    with Dispatcher(
        url,
        clock=clock,
        transport=RecordingTransport(lambda request: 200),
        endpoint_policy=EndpointPolicy(allow_insecure=True),
    ) as dispatcher:
        integration = dispatcher.integrations.install("tenant-1", secret="prune-secret-0123456789")
        dispatcher.integrations.subscribe(integration.id, "course/*", "http://127.0.0.1:9/hook")
        for n in range(2):
            dispatcher.emit("course/completion/create", {"n": n}, tenant="tenant-1")
        dispatcher.drain()
        clock.set(datetime.now(timezone.utc))
        dispatcher.emit("course/completion/create", {"n": 2}, tenant="tenant-1")
        dispatcher.drain()
    return url


def _deliveries_left(db: str) -> int:
    with Dispatcher(db) as dispatcher:
        return len(dispatcher.deliveries(limit=100).items)


def test_a_dry_run_reports_what_would_go_and_keeps_it(run: Run, db: str) -> None:
    result = run("prune", "--db", db, "--older-than", "30d", "--dry-run", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "dry_run": True,
        "older_than_seconds": 30 * 86400,
        "events": 2,
        "deliveries": 2,
        "attempts": 2,
        "notifications": 0,
        "examined": 2,
    }
    assert _deliveries_left(db) == 3


def test_prune_deletes_history_older_than_the_age_and_says_so(run: Run, db: str) -> None:
    result = run("prune", "--db", db, "--older-than", "30d")
    assert result.code == 0, result.err
    assert "deleted 2 events, 2 deliveries, 2 attempts and 0 sent notices" in result.out
    assert _deliveries_left(db) == 1
    again = run("prune", "--db", db, "--older-than", "30d")
    assert "deleted 0 events" in again.out


@pytest.mark.parametrize("age", ["0d", "soon", "-5d", "30"])
def test_an_age_that_is_not_a_positive_length_of_time_is_a_usage_error(
    run: Run, db: str, age: str
) -> None:
    result = run("prune", "--db", db, "--older-than", age)
    assert result.code == 2
    assert "--older-than" in result.err or "length of time" in result.err
    assert _deliveries_left(db) == 3

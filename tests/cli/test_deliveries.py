"""``acadio-webhooks deliveries``: list, show, resend and resend-failed on SQLite."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from tests.cli.conftest import Run

HEALTHY = "http://127.0.0.1:9/healthy"
FAILING = "http://127.0.0.1:9/failing"


@dataclass(frozen=True)
class History:
    db: str
    integration_id: str
    delivered_id: str
    failed_id: str


@pytest.fixture
def history(tmp_path: Path) -> History:
    """One delivery delivered at once, one failed after 7 attempts: the clock jumps to each
    retry's due time."""
    db = f"sqlite:///{tmp_path / 'webhooks.db'}"
    clock = FakeClock(datetime.now(timezone.utc) - timedelta(days=3))
    transport = RecordingTransport(lambda request: 200 if request.url == HEALTHY else 500)
    with Dispatcher(
        db, clock=clock, transport=transport, endpoint_policy=EndpointPolicy(allow_insecure=True)
    ) as dispatcher:
        hooks = dispatcher.integrations
        integration = hooks.install("tenant-1", secret="delivery-secret-0123456789")
        hooks.subscribe(integration.id, "course/activity/*", HEALTHY)
        hooks.subscribe(integration.id, "course/completion/*", FAILING)
        dispatcher.emit("course/activity/update", {"n": 1}, tenant="tenant-1")
        dispatcher.emit("course/completion/create", {"n": 2}, tenant="tenant-1")
        dispatcher.drain()
        while pending := dispatcher.deliveries(status="pending").items:
            due = min(d.next_attempt_at or clock.now() for d in pending)
            clock.advance(max(due - clock.now(), timedelta(0)))
            dispatcher.drain()
        by_topic = {d.topic: d for d in dispatcher.deliveries().items}
    return History(
        db,
        integration.id,
        by_topic["course/activity/update"].id,
        by_topic["course/completion/create"].id,
    )


def test_list_json(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "list", "--json")
    assert result.code == 0
    listed = {entry["id"]: entry for entry in json.loads(result.out)}
    assert listed[history.delivered_id]["status"] == "delivered"
    assert listed[history.delivered_id]["attempts"] == 1
    assert listed[history.failed_id]["status"] == "failed"
    assert listed[history.failed_id]["attempts"] == 7
    assert listed[history.failed_id]["last_status_code"] == 500


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--status", "failed"], ["failed"]),
        (["--status", "delivered"], ["delivered"]),
        (["--topic", "course/activity/update"], ["delivered"]),
        (["--since", "7d"], ["failed", "delivered"]),
        (["--since", "2999-01-01T00:00:00Z"], []),
        (["--integration", "int_other"], []),
        (["--tenant", "tenant-2"], []),
    ],
)
def test_list_filters(run: Run, history: History, options: list[str], expected: list[str]) -> None:
    result = run("deliveries", "list", "--db", history.db, "--json", *options)
    assert result.code == 0, result.err
    assert sorted(entry["status"] for entry in json.loads(result.out)) == sorted(expected)


def test_list_limit(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "list", "--limit", "1", "--json")
    assert len(json.loads(result.out)) == 1
    assert run("deliveries", "--db", history.db, "list", "--limit", "0").code == 2


def test_list_table(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "list")
    assert result.code == 0
    assert history.failed_id in result.out
    assert "2 deliveries" in result.out


def test_list_bad_since_is_a_usage_error(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "list", "--since", "yesterday")
    assert result.code == 2
    assert "cannot read time 'yesterday'" in result.err


def test_show_lists_every_attempt(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "show", history.failed_id, "--json")
    assert result.code == 0
    shown = json.loads(result.out)
    assert shown["endpoint"] == FAILING
    assert [a["number"] for a in shown["attempt_log"]] == [1, 2, 3, 4, 5, 6, 7]
    assert {a["status_code"] for a in shown["attempt_log"]} == {500}
    table = run("deliveries", "--db", history.db, "show", history.failed_id)
    assert "Attempts" in table.out
    assert table.out.count("500") >= 7


def test_show_unknown_delivery_fails_with_one_line(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "show", "dlv_missing")
    assert result.code == 1
    assert result.err.strip() == "acadio-webhooks: error: delivery 'dlv_missing' not found"


def test_resend_queues_a_fresh_delivery_of_the_same_event(run: Run, history: History) -> None:
    result = run("deliveries", "--db", history.db, "resend", history.failed_id, "--json")
    assert result.code == 0, result.err
    fresh = json.loads(result.out)["delivery"]
    assert fresh["id"] != history.failed_id
    assert fresh["status"] == "pending"
    assert fresh["attempts"] == 0
    with Dispatcher(history.db) as dispatcher:
        assert fresh["event_id"] == dispatcher.delivery(history.failed_id).event_id


def test_resend_failed_since(run: Run, history: History) -> None:
    base = ["deliveries", "--db", history.db, "resend-failed", "--integration"]
    later = run(*base, history.integration_id, "--since", "2999-01-01", "--json")
    assert json.loads(later.out)["queued"] == 0
    result = run(*base, history.integration_id, "--since", "7d")
    assert result.code == 0
    assert "queued 1 failed delivery" in result.out

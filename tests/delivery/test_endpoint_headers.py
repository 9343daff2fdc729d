"""Custom endpoint headers: sent on every attempt, refused when unsafe, never shown or logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select, update

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.storage.secret_box import FernetSecretBox
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql._codec import SecretCodec
from acadio_webhooks.adapters.storage.sql.schema import subscriptions
from acadio_webhooks.domain.headers import (
    MAX_ENDPOINT_HEADER_BYTES,
    MAX_ENDPOINT_HEADERS,
    endpoint_header_problems,
)
from acadio_webhooks.errors import InvalidInput, UnreadableRecord
from acadio_webhooks.ports.storage import Store
from tests.loopback import loopback_receiver

SECRET = "whsec-0123456789abcdef"
TOKEN = "Bearer canary-4f1d2e-header-value"
INSECURE = EndpointPolicy(allow_insecure=True)


@pytest.mark.parametrize(
    ("headers", "field", "problem"),
    [
        ({"Bad Name": "x"}, "headers.Bad Name", "not a valid header name"),
        ({"X-Key:": "x"}, "headers.X-Key:", "not a valid header name"),
        ({"": "x"}, "headers.", "not a valid header name"),
        ({"X-Split": "a\r\nX-Evil: 1"}, "headers.X-Split", "line break"),
        ({"X-Nul": "a\x00b"}, "headers.X-Nul", "control character"),
        ({"X-Accent": "café"}, "headers.X-Accent", "non-ASCII"),
        ({"X-Pad": " padded"}, "headers.X-Pad", "whitespace"),
        ({"Host": "evil.example"}, "headers.Host", "reserved"),
        ({"content-length": "1"}, "headers.content-length", "reserved"),
        ({"Content-Type": "text/plain"}, "headers.Content-Type", "reserved"),
        ({"Transfer-Encoding": "chunked"}, "headers.Transfer-Encoding", "reserved"),
        ({"CONNECTION": "close"}, "headers.CONNECTION", "reserved"),
        ({"X-Acadio-Topic": "x"}, "headers.X-Acadio-Topic", "reserved"),
        ({"Webhook-Signature": "v1,forged"}, "headers.Webhook-Signature", "reserved"),
        ({"traceparent": "00-x"}, "headers.traceparent", "reserved"),
        ({"X-Key": "a", "x-key": "b"}, "headers.x-key", "given twice"),
        ({f"X-H{n}": "v" for n in range(MAX_ENDPOINT_HEADERS + 1)}, "headers", "at most 20"),
        ({"X-Big": "v" * MAX_ENDPOINT_HEADER_BYTES}, "headers", "at most 4096"),
    ],
)
def test_unsafe_headers_are_refused_naming_the_header_never_the_value(
    headers: dict[str, str], field: str, problem: str
) -> None:
    problems = endpoint_header_problems(headers)
    assert field in problems
    assert problem in problems[field]
    for value in headers.values():
        if len(value) > 3:
            assert value not in str(problems)


def test_ordinary_headers_pass() -> None:
    assert endpoint_header_problems({}) == {}
    assert endpoint_header_problems({"Authorization": TOKEN, "X-Api-Key": "k\tv!~"}) == {}
    most = {f"X-H{n}": "v" for n in range(MAX_ENDPOINT_HEADERS)}
    assert endpoint_header_problems(most) == {}


def test_subscribe_refuses_bad_headers_and_stores_nothing(store: Store) -> None:
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    with pytest.raises(InvalidInput) as refused:
        dispatcher.integrations.subscribe(
            integration.id,
            "course/*",
            "http://127.0.0.1:9/hooks",
            headers={"Authorization": TOKEN, "X-Split": "a\nb"},
        )
    assert set(refused.value.problems) == {"headers.X-Split"}
    assert TOKEN not in str(refused.value)
    with pytest.raises(InvalidInput, match="headers: must map names to values, not list"):
        dispatcher.integrations.subscribe(
            integration.id,
            "course/*",
            "http://127.0.0.1:9/hooks",
            headers=[("A", "b")],  # type: ignore[arg-type]
        )
    assert dispatcher.integrations.subscriptions(integration.id) == []


def test_headers_arrive_on_every_attempt_and_can_be_replaced_or_removed(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    with loopback_receiver(SECRET) as receiver:
        subscription = dispatcher.integrations.subscribe(
            integration.id,
            "course/*",
            receiver.url(),
            headers={"Authorization": TOKEN, "X-Api-Key": "key-1"},
        )
        with caplog.at_level(logging.DEBUG):
            dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
            dispatcher.drain()
            dispatcher.integrations.update_subscription(
                subscription.id, headers={"X-Api-Key": "key-2"}
            )
            dispatcher.emit("course/completion/create", {"n": 2}, tenant="tenant-1")
            dispatcher.drain()
            dispatcher.integrations.update_subscription(subscription.id, active=True)  # kept
            dispatcher.emit("course/completion/create", {"n": 3}, tenant="tenant-1")
            dispatcher.drain()
            dispatcher.integrations.update_subscription(subscription.id, headers={})
            dispatcher.emit("course/completion/create", {"n": 4}, tenant="tenant-1")
            dispatcher.drain()
        first, second, third, fourth = receiver.received

    assert all(r.verified for r in (first, second, third, fourth))  # signatures untouched
    assert first.headers["Authorization"] == TOKEN
    assert first.headers["X-Api-Key"] == "key-1"
    assert "Authorization" not in second.headers
    assert second.headers["X-Api-Key"] == "key-2"
    assert third.headers["X-Api-Key"] == "key-2"
    assert "X-Api-Key" not in fourth.headers
    assert TOKEN not in caplog.text
    assert "key-1" not in caplog.text
    stored = dispatcher.integrations.subscriptions(integration.id)[0]
    assert stored.headers == {}
    dispatcher.close()


def test_header_values_stay_out_of_reprs_and_listings(tmp_path: Path) -> None:
    dispatcher = Dispatcher(SqlStore(tmp_path / "w.db"), endpoint_policy=INSECURE)
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    subscription = dispatcher.integrations.subscribe(
        integration.id,
        "course/*",
        "http://127.0.0.1:9/hooks",
        headers={"X-Api-Key": "k", "Authorization": TOKEN},
    )
    assert TOKEN not in repr(subscription)
    assert TOKEN not in str(subscription)
    assert subscription.header_names == ["Authorization", "X-Api-Key"]
    dispatcher.close()


def test_header_values_are_sealed_at_rest_with_the_secret_box(tmp_path: Path) -> None:
    key = FernetSecretBox.new_key()
    path = tmp_path / "w.db"
    dispatcher = Dispatcher(SqlStore(path, secret_box=FernetSecretBox(key)))
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    subscription = dispatcher.integrations.subscribe(
        integration.id, "course/*", "https://93.184.216.34/hooks", headers={"Authorization": TOKEN}
    )
    dispatcher.close()

    raw = SqlStore(path)
    with raw.engine.connect() as conn:
        [stored] = conn.execute(select(subscriptions.c.headers)).scalars()
    assert stored.startswith("sealed:")
    assert "canary" not in stored
    with pytest.raises(UnreadableRecord, match="custom headers of subscription"):
        raw.get_subscription(subscription.id)  # sealed: needs the box that sealed it
    raw.close()
    reopened = SqlStore(path, secret_box=FernetSecretBox(key))
    assert reopened.get_subscription(subscription.id).headers == {"Authorization": TOKEN}
    reopened.close()


def test_headers_sealed_with_another_key_leave_deliveries_pending_not_sent_bare(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "w.db"
    box = FernetSecretBox(FernetSecretBox.new_key())
    with loopback_receiver(SECRET) as receiver:
        dispatcher = Dispatcher(SqlStore(path, secret_box=box), endpoint_policy=INSECURE)
        integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
        subscription = dispatcher.integrations.subscribe(
            integration.id, "course/*", receiver.url(), headers={"Authorization": TOKEN}
        )
        # Headers sealed with a key this store does not hold (a botched key rotation).
        foreign = SecretCodec(FernetSecretBox(FernetSecretBox.new_key()))
        with dispatcher.store.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription.id)
                .values(headers=foreign.dump_headers({"Authorization": TOKEN}))
            )
        event_id = dispatcher.emit("course/completion/create", {"n": 1}, tenant="tenant-1")
        with caplog.at_level(logging.ERROR, logger="acadio_webhooks.storage"):
            report = dispatcher.drain()
        [delivery] = dispatcher.deliveries(event_id=event_id).items
        dispatcher.close()
    assert report.attempts == 0
    assert receiver.received == []  # never sent without the headers it needs
    assert delivery.status.value == "pending"
    assert f"custom headers of subscription {subscription.id!r}" in caplog.text
    assert TOKEN not in caplog.text

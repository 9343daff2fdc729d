"""Rows that no longer validate (edited by hand, written by a newer version, refused by a
stricter rule since): the SQL store reports them as ``StorageError`` naming the table, the row
and the fields, never the values, and the rest of the store keeps working around them."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.capturing import CapturingNotifier
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.schema import (
    attempts,
    deliveries,
    events,
    integrations,
    notifications,
    subscriptions,
)
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.models import DeliveryStatus, Integration, Subscription
from acadio_webhooks.errors import StorageError, UnreadableRecord
from acadio_webhooks.notify import NotificationFlusher
from acadio_webhooks.ports.storage import DeliveryQuery
from acadio_webhooks.worker import SyncWorker
from tests.contract.builders import (
    LEASE,
    at,
    delivery,
    event,
    integration,
    notification,
    settlement,
    subscription,
)

LEAKY = "leaky-value"  # stands for a stored secret: no message may ever show it


def _overwrite(store: SqlStore, table: sa.Table, row_id: object, **values: Any) -> None:
    """Change a stored row behind the store's back, as a hand edit or another version would."""
    with store.engine.begin() as conn:
        changed = conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))
        assert changed.rowcount == 1


def _refusal(call: Callable[[], object]) -> StorageError:
    with pytest.raises(StorageError) as raised:
        call()
    error = raised.value
    printed = "".join(traceback.format_exception(error))
    assert LEAKY not in printed  # neither the message nor a chained validation error
    assert error.__cause__ is None
    return error


def _installed(store: SqlStore, tenant: str = "acme") -> tuple[Integration, Subscription]:
    owner = integration(tenant)
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    return owner, sub


def test_an_invalid_integration_row_names_table_row_and_fields(store: SqlStore) -> None:
    owner, _ = _installed(store)
    secrets = json.dumps([{"value": LEAKY, "created_at": at(0).isoformat(), "expires_at": None}])
    _overwrite(store, integrations, owner.id, secrets=secrets, notification_email=LEAKY)

    for call in (lambda: store.get_integration(owner.id), store.list_integrations):
        error = _refusal(call)
        message = str(error)
        assert "acadio_integrations" in message
        assert owner.id in message
        assert "secrets.0.value" in message
        # Not an outage: a StorageError of its own kind, telling what and where.
        assert isinstance(error, UnreadableRecord)
        assert (error.kind, error.record_id, error.table) == (
            "integration",
            owner.id,
            "acadio_integrations",
        )
        assert error.fields == ("secrets.0.value",)  # the secrets are read first


def test_secrets_that_are_not_json_are_an_invalid_row(store: SqlStore) -> None:
    owner, _ = _installed(store)
    _overwrite(store, integrations, owner.id, secrets=LEAKY)

    message = str(_refusal(lambda: store.list_integrations("acme")))
    assert owner.id in message
    assert "(secrets)" in message


def test_an_integration_with_a_bad_email_names_only_that_field(store: SqlStore) -> None:
    owner, _ = _installed(store)
    _overwrite(store, integrations, owner.id, notification_email=LEAKY)

    message = str(_refusal(lambda: store.get_integration(owner.id)))
    assert "(notification_email)" in message


def test_an_invalid_subscription_row_names_its_fields(store: SqlStore) -> None:
    owner, sub = _installed(store)
    _overwrite(store, subscriptions, sub.id, pattern="leaky-value/*x", endpoint="ftp://leaky-value")

    for call in (
        lambda: store.get_subscription(sub.id),
        lambda: store.list_subscriptions(owner.id),
    ):
        message = str(_refusal(call))
        assert "acadio_subscriptions" in message
        assert sub.id in message
        assert "pattern" in message
        assert "endpoint" in message


def test_invalid_delivery_event_attempt_and_notification_rows(store: SqlStore) -> None:
    _, sub = _installed(store)
    evt = event()
    dlv = delivery(evt, sub)
    store.enqueue(evt, [dlv])
    [item] = store.claim(now=at(1), limit=1, owner="w", lease=LEASE)
    store.settle(
        [settlement(item, ok=False, started=2, notifications=(notification(item, created=2),))],
        owner="w",
        now=at(3),
    )
    [note] = store.unsent_notifications()
    _overwrite(store, deliveries, dlv.id, status=LEAKY)
    _overwrite(store, events, evt.id, topic=f"Course/{LEAKY}")
    with store.engine.begin() as conn:
        conn.execute(sa.update(attempts).values(number=0, duration_ms=-1.0))
    _overwrite(store, notifications, note.id, kind=LEAKY)

    cases: list[tuple[Callable[[], object], str, str]] = [
        (lambda: store.get_delivery(dlv.id), "acadio_deliveries", "(status)"),
        (lambda: store.list_deliveries(DeliveryQuery()), "acadio_deliveries", "(status)"),
        (lambda: store.get_event(evt.id), "acadio_events", "(topic)"),
        (lambda: store.list_attempts(dlv.id), "acadio_attempts", "(number, duration_ms)"),
        (store.unsent_notifications, "acadio_notifications", "(kind)"),
    ]
    for call, table, fields in cases:
        message = str(_refusal(call))
        assert table in message
        assert fields in message


def _enqueued(store: SqlStore, sub: Subscription, tenant: str, created: float = 0) -> str:
    evt = event(tenant, created=created)
    made = delivery(evt, sub)
    store.enqueue(evt, [made])
    return made.id


def test_claim_leaves_an_unreadable_integration_pending_and_hands_out_the_rest(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    broken, broken_sub = _installed(store, "broken")
    _, fine_sub = _installed(store, "fine")
    stuck = _enqueued(store, broken_sub, "broken")
    fine = [_enqueued(store, fine_sub, "fine", created=n) for n in (1, 2, 3)]
    _overwrite(store, integrations, broken.id, secrets=LEAKY)

    with caplog.at_level(logging.ERROR, logger="acadio_webhooks.storage"):
        items = store.claim(now=at(5), limit=2, owner="w", lease=LEASE)

    # The unreadable one does not use up the limit.
    assert [i.delivery_id for i in items] == fine[:2]
    assert store.get_delivery(stuck).status is DeliveryStatus.PENDING
    assert broken.id in caplog.text
    assert LEAKY not in caplog.text
    # Its lease keeps it out of the next claims instead of at the head of each one...
    rest = store.claim(now=at(6), limit=5, owner="w", lease=LEASE)
    assert [i.delivery_id for i in rest] == [fine[2]]
    # ...and when it runs out the delivery is tried again: repaired by then, it goes out.
    done = [settlement(item, ok=True, started=7) for item in [*items, *rest]]
    store.settle(done, owner="w", now=at(8))
    store.update_integration(broken)
    [again] = store.claim(now=at(5) + LEASE, limit=5, owner="w", lease=LEASE)
    assert again.delivery_id == stuck


def test_a_worker_keeps_delivering_other_integrations(store: SqlStore) -> None:
    broken, broken_sub = _installed(store, "broken")
    _, fine_sub = _installed(store, "fine")
    stuck = _enqueued(store, broken_sub, "broken")
    fine = [_enqueued(store, fine_sub, "fine", created=n) for n in (1, 2)]
    _overwrite(store, integrations, broken.id, secrets=LEAKY)
    transport = RecordingTransport()

    report = SyncWorker(store, transport).drain()

    assert report.delivered == 2
    assert [store.get_delivery(d).status for d in fine] == [DeliveryStatus.DELIVERED] * 2
    assert store.get_delivery(stuck).status is DeliveryStatus.PENDING


def test_emit_skips_a_stored_pattern_that_no_longer_parses(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    _, broken = _installed(store)
    fine = subscription(store.get_integration(broken.integration_id))
    store.add_subscription(fine)
    _overwrite(store, subscriptions, broken.id, pattern="course/*x")
    dispatcher = Dispatcher(store)

    with caplog.at_level(logging.ERROR, logger="acadio_webhooks.dispatcher"):
        event_id = dispatcher.emit("course/completion/create", {"n": 1}, tenant="acme")

    sent = store.list_deliveries(DeliveryQuery(event_id=event_id)).items
    assert [d.subscription_id for d in sent] == [fine.id]
    assert broken.id in caplog.text


def test_notices_of_other_integrations_go_out_past_an_unreadable_one(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    broken, broken_sub = _installed(store, "broken")
    fine, fine_sub = _installed(store, "fine")
    for sub, tenant in ((broken_sub, "broken"), (fine_sub, "fine")):
        _enqueued(store, sub, tenant)
    items = store.claim(now=at(1), limit=5, owner="w", lease=LEASE)
    store.settle(
        [
            settlement(
                item,
                ok=False,
                started=2,
                status=DeliveryStatus.FAILED,
                notifications=(notification(item, created=2),),
            )
            for item in items
        ],
        owner="w",
        now=at(3),
    )
    _overwrite(store, integrations, broken.id, notification_email=LEAKY)
    notifier = CapturingNotifier()
    flusher = NotificationFlusher(store, notifier, clock=FakeClock(at(4000)))

    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.notify"):
        assert flusher.flush() == 1

    assert [n.integration_id for n in notifier.notices] == [fine.id]
    assert [n.integration_id for n in store.unsent_notifications()] == [broken.id]
    assert broken.id in caplog.text
    assert LEAKY not in caplog.text

"""The notice queue role's contract, run against every store: what the failure-notice
flusher relies on.
"""

from __future__ import annotations

from acadio_webhooks.domain.messages import NotificationKind
from acadio_webhooks.domain.models import Subscription
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import (
    at,
    claim,
    enqueue_one,
    notification,
    settlement,
)


def test_notifications_unsent_until_marked(store: Store, sub: Subscription) -> None:
    for _ in range(3):
        enqueue_one(store, sub)
    items = claim(store, 1)
    notes = [
        notification(item, created=10 - n, kind=kind)
        for n, (item, kind) in enumerate(
            zip(
                items,
                [
                    NotificationKind.DELIVERY_FAILED,
                    NotificationKind.ENDPOINT_FAILING,
                    NotificationKind.ENDPOINT_DISABLED,
                ],
            )
        )
    ]
    store.settle(
        [
            settlement(item, ok=False, started=2, notifications=(note,))
            for item, note in zip(items, notes)
        ],
        owner="w1",
        now=at(11),
    )
    oldest_first = sorted(notes, key=lambda n: n.created_at)
    assert store.unsent_notifications() == oldest_first
    assert store.unsent_notifications(limit=2) == oldest_first[:2]
    assert store.last_notice_at(sub.integration_id) is None

    store.mark_notifications_sent([oldest_first[0].id, oldest_first[1].id], now=at(20))
    assert store.unsent_notifications() == oldest_first[2:]
    assert store.last_notice_at(sub.integration_id) == at(20)
    store.mark_notifications_sent([oldest_first[2].id], now=at(30))
    assert store.unsent_notifications() == []
    assert store.last_notice_at(sub.integration_id) == at(30)
    assert store.last_notice_at("int_other") is None

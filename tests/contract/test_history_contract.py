"""The history role's contract (listings and resends), run against every store: what the
portal, the CLI and ``Dispatcher.resend`` rely on.
"""

from __future__ import annotations

import pytest

from acadio_webhooks.domain.models import DeliveryStatus, Subscription
from acadio_webhooks.errors import NotFound
from acadio_webhooks.ports.storage import DeliveryQuery, Store
from tests.contract.builders import (
    at,
    claim,
    delivery,
    enqueue_one,
    event,
    integration,
    settlement,
    subscription,
)


def test_list_deliveries_filters(store: Store) -> None:
    acme = integration("acme")
    globex = integration("globex")
    store.add_integration(acme)
    store.add_integration(globex)
    acme_sub = subscription(acme)
    acme_other = subscription(acme, "*")
    globex_sub = subscription(globex)
    for made in (acme_sub, acme_other, globex_sub):
        store.add_subscription(made)
    e1 = event("acme", created=10)
    e2 = event("acme", topic="course/activity/update", created=20)
    e3 = event("globex", created=30)
    d1, d1b = delivery(e1, acme_sub), delivery(e1, acme_other)
    d2, d3 = delivery(e2, acme_sub), delivery(e3, globex_sub)
    store.enqueue(e1, [d1, d1b])
    store.enqueue(e2, [d2])
    store.enqueue(e3, [d3])
    store.cancel_pending(now=at(40), subscription_id=acme_other.id)

    def ids(**filters: object) -> list[str]:
        return [d.id for d in store.list_deliveries(DeliveryQuery(**filters)).items]  # type: ignore[arg-type]

    assert set(ids()) == {d1.id, d1b.id, d2.id, d3.id}
    assert ids(tenant="globex") == [d3.id]
    assert set(ids(integration_id=acme.id)) == {d1.id, d1b.id, d2.id}
    assert ids(subscription_id=acme_other.id) == [d1b.id]
    assert set(ids(event_id=e1.id)) == {d1.id, d1b.id}
    assert ids(status=DeliveryStatus.CANCELLED) == [d1b.id]
    assert ids(topic="course/activity/update") == [d2.id]
    assert ids(since=at(20)) == [d3.id, d2.id]
    assert set(ids(until=at(20))) == {d1.id, d1b.id}
    assert ids(tenant="acme", since=at(15), until=at(25)) == [d2.id]


def test_list_deliveries_pages_newest_first_with_a_stable_cursor(
    store: Store, sub: Subscription
) -> None:
    made = [enqueue_one(store, sub, created=n // 2) for n in range(7)]  # some share a time
    expected = sorted(made, key=lambda d: (d.created_at, d.id), reverse=True)

    first = store.list_deliveries(DeliveryQuery(limit=3))
    assert first.next_cursor is not None
    enqueue_one(store, sub, created=100)  # newer: must not shift later pages
    second = store.list_deliveries(DeliveryQuery(limit=3, cursor=first.next_cursor))
    assert second.next_cursor is not None
    third = store.list_deliveries(DeliveryQuery(limit=3, cursor=second.next_cursor))
    assert third.next_cursor is None
    paged = [*first.items, *second.items, *third.items]
    assert [d.id for d in paged] == [d.id for d in expected]


def test_list_deliveries_last_full_page_has_no_cursor(store: Store, sub: Subscription) -> None:
    for n in range(2):
        enqueue_one(store, sub, created=n)
    page = store.list_deliveries(DeliveryQuery(limit=2))
    assert len(page.items) == 2
    assert page.next_cursor is None


def test_list_deliveries_rejects_a_forged_cursor(store: Store) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.list_deliveries(DeliveryQuery(cursor="not-a-cursor"))


def test_resend_queues_a_fresh_delivery_of_the_same_event(store: Store, sub: Subscription) -> None:
    old = enqueue_one(store, sub)
    [item] = claim(store, 1)
    store.settle(
        [settlement(item, ok=False, started=2, status=DeliveryStatus.FAILED)],
        owner="w1",
        now=at(3),
    )
    fresh = store.resend(old.id, now=at(100))
    assert fresh.id != old.id
    assert (fresh.event_id, fresh.subscription_id) == (old.event_id, old.subscription_id)
    assert fresh.status is DeliveryStatus.PENDING
    assert fresh.attempts == 0
    assert fresh.next_attempt_at == at(100)
    assert store.get_delivery(fresh.id) == fresh
    assert store.get_delivery(old.id).status is DeliveryStatus.FAILED
    assert len(store.list_attempts(old.id)) == 1
    assert store.list_attempts(fresh.id) == []
    [again] = claim(store, 100)
    assert (again.delivery_id, again.attempt_number) == (fresh.id, 1)


def test_resend_of_a_delivery_whose_subscription_is_gone_raises(
    store: Store, sub: Subscription
) -> None:
    old = enqueue_one(store, sub)
    store.delete_subscription(sub.id)
    with pytest.raises(NotFound):
        store.resend(old.id, now=at(5))


def _fail(store: Store, seconds: float, *, owner: str = "w1") -> None:
    items = claim(store, seconds, owner=owner, limit=100)
    store.settle(
        [
            settlement(item, ok=False, started=seconds, status=DeliveryStatus.FAILED)
            for item in items
        ],
        owner=owner,
        now=at(seconds),
    )


def test_resend_failed_requeues_failed_deliveries_since_a_time(
    store: Store, sub: Subscription
) -> None:
    owner = store.get_integration(sub.integration_id)
    paused = subscription(owner, "*")
    store.add_subscription(paused)
    too_old = enqueue_one(store, sub, created=0)
    recent = enqueue_one(store, sub, created=50)
    to_paused = enqueue_one(store, paused, created=60)
    _fail(store, 70)
    store.update_subscription(
        store.get_subscription(paused.id).model_copy(update={"active": False})
    )
    delivered = enqueue_one(store, sub, created=80)
    [ok_item] = claim(store, 80)
    store.settle([settlement(ok_item, ok=True, started=80)], owner="w1", now=at(80))

    assert store.resend_failed(owner.id, since=at(50), now=at(100)) == 1
    fresh = [
        d
        for d in store.list_deliveries(DeliveryQuery(status=DeliveryStatus.PENDING)).items
        if d.created_at == at(100)
    ]
    assert [d.event_id for d in fresh] == [recent.event_id]
    for untouched in (too_old, recent, to_paused):
        assert store.get_delivery(untouched.id).status is DeliveryStatus.FAILED
    assert store.get_delivery(delivered.id).status is DeliveryStatus.DELIVERED

"""The claim keeps each endpoint's rate limit, on every store: memory, SQLite, PostgreSQL.

A 5/s subscription with 20 due deliveries: the first claim hands out one second's worth
(the burst) and puts the rest off, 0.2 s apart and still pending; claims at those times hand
them out one by one; an unlimited subscription's deliveries go at once beside them.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from acadio_webhooks.domain.models import Delivery, DeliveryStatus, Subscription
from acadio_webhooks.ports.storage import DeliveryQuery, Store
from tests.contract.builders import (
    LEASE,
    at,
    delivery,
    event,
    integration,
    settlement,
    subscription,
)


def _setup(store: Store, rate_limit: float | None) -> Subscription:
    owner = integration()
    store.add_integration(owner)
    made = subscription(owner, rate_limit=rate_limit)
    store.add_subscription(made)
    return made


def _enqueue(store: Store, sub: Subscription, count: int, *, created: float = 0) -> list[str]:
    ids = []
    for _ in range(count):
        evt = event(created=created)
        dlv = delivery(evt, sub)
        assert store.enqueue(evt, [dlv])
        ids.append(dlv.id)
    return ids


def _pending(store: Store, sub: Subscription) -> list[Delivery]:
    query = DeliveryQuery(subscription_id=sub.id, status=DeliveryStatus.PENDING, limit=100)
    return list(store.list_deliveries(query).items)


def test_a_limited_endpoint_gets_its_burst_then_one_delivery_per_interval(store: Store) -> None:
    limited = _setup(store, 5.0)
    free = _setup(store, None)
    _enqueue(store, limited, 20)
    _enqueue(store, free, 20, created=0.5)

    first = store.claim(now=at(1), limit=100, owner="w1", lease=LEASE)

    assert sum(i.subscription_id == limited.id for i in first) == 5  # one second's worth
    assert sum(i.subscription_id == free.id for i in first) == 20  # not held up
    put_off = sorted(
        d.next_attempt_at for d in _pending(store, limited) if d.next_attempt_at > at(1)
    )
    assert len(put_off) == 15
    assert put_off[0] == at(1.2)
    assert all(b - a == timedelta(seconds=0.2) for a, b in itertools.pairwise(put_off))
    assert first.resume_at == at(1.2)

    assert store.claim(now=at(1.1), limit=100, owner="w1", lease=LEASE) == []
    second = store.claim(now=at(1.2), limit=100, owner="w1", lease=LEASE)
    assert len(second) == 1
    assert second[0].attempt_number == 1  # waiting used no attempt
    assert second.resume_at == at(1.4)
    # Claimed late, at 2.0: the bucket lets through what it has room for, not all that is due.
    late = store.claim(now=at(2.0), limit=100, owner="w1", lease=LEASE)
    assert len(late) == 4


def test_new_deliveries_queue_behind_those_put_off(store: Store) -> None:
    limited = _setup(store, 2.0)
    old = sorted(_enqueue(store, limited, 4))  # claimed in (due time, id) order
    assert len(store.claim(now=at(1), limit=10, owner="w1", lease=LEASE)) == 2
    newer = _enqueue(store, limited, 1, created=1.2)
    # At 1.5 the first put-off delivery goes; the newer one waits behind the last one.
    going = store.claim(now=at(1.5), limit=10, owner="w1", lease=LEASE)
    assert [i.delivery_id for i in going] == [old[2]]
    assert [i.delivery_id for i in store.claim(now=at(2.0), limit=10, owner="w1", lease=LEASE)] == [
        old[3]
    ]
    assert [i.delivery_id for i in store.claim(now=at(2.5), limit=10, owner="w1", lease=LEASE)] == [
        newer[0]
    ]


def test_a_failed_attempt_of_a_limited_endpoint_is_retried_within_the_limit(store: Store) -> None:
    limited = _setup(store, 1.0)
    _enqueue(store, limited, 1)
    (item,) = store.claim(now=at(0), limit=10, owner="w1", lease=LEASE)
    store.settle([settlement(item, ok=False, started=0.1, retry_at=0.6)], owner="w1", now=at(0.2))
    # Due again at 0.6, but the last delivery went at 0: the limit holds it until 1.0.
    assert store.claim(now=at(0.6), limit=10, owner="w1", lease=LEASE) == []
    (again,) = store.claim(now=at(1.0), limit=10, owner="w1", lease=LEASE)
    assert again.attempt_number == 2


@pytest.mark.parametrize("new_limit", [None, 100.0])
def test_changing_the_limit_releases_what_the_old_one_put_off(
    store: Store, new_limit: float | None
) -> None:
    limited = _setup(store, 0.1)
    _enqueue(store, limited, 5)
    assert len(store.claim(now=at(1), limit=10, owner="w1", lease=LEASE)) == 1
    store.update_subscription(limited.model_copy(update={"rate_limit": new_limit}))
    assert store.get_subscription(limited.id).rate_limit == new_limit
    assert len(store.claim(now=at(1.01), limit=10, owner="w1", lease=LEASE)) == 4


def test_the_limiter_state_outlives_the_store_connection_it_was_written_by(store: Store) -> None:
    # Two claimers (owners) share the limit: the second sees what the first handed out.
    limited = _setup(store, 1.0)
    _enqueue(store, limited, 3)
    assert len(store.claim(now=at(0), limit=1, owner="w1", lease=LEASE)) == 1
    assert store.claim(now=at(0.5), limit=10, owner="w2", lease=LEASE) == []
    assert len(store.claim(now=at(1.0), limit=10, owner="w2", lease=LEASE)) == 1


@pytest.mark.services
def test_a_limit_another_claimer_holds_is_left_to_it_on_postgresql(
    request: pytest.FixtureRequest,
) -> None:
    from sqlalchemy import select

    from acadio_webhooks.adapters.storage.sql.schema import subscriptions
    from tests.stores import wiped_postgres_store

    store = wiped_postgres_store(request)
    try:
        limited = _setup(store, 1.0)
        free = _setup(store, None)
        _enqueue(store, limited, 2)
        _enqueue(store, free, 1)
        with store.engine.connect() as other, other.begin():
            # Another claimer is spacing this subscription's deliveries right now.
            other.execute(
                select(subscriptions.c.id).where(subscriptions.c.id == limited.id).with_for_update()
            )
            meanwhile = store.claim(now=at(1), limit=10, owner="w1", lease=LEASE)
        assert [i.subscription_id for i in meanwhile] == [free.id]
        assert all(d.next_attempt_at == at(0) for d in _pending(store, limited))  # untouched
        after = store.claim(now=at(1), limit=10, owner="w1", lease=LEASE)
        assert [i.subscription_id for i in after] == [limited.id]  # one: 1/s, burst 1
    finally:
        store.close()

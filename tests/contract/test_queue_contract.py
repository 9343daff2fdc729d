"""The delivery queue role's contract, claim and take, run against every store: what the
workers and the Celery tasks rely on to lease each due delivery to one of them.
"""

from __future__ import annotations

from datetime import timedelta

from acadio_webhooks.domain.models import DeliveryStatus, SigningSecret, Subscription
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import (
    LEASE,
    SECRET,
    at,
    claim,
    enqueue_one,
    integration,
    settlement,
    subscription,
)


def test_claim_returns_everything_the_attempt_needs(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    evt = store.get_event(dlv.event_id)
    assert item.delivery_id == dlv.id
    assert item.event_id == evt.id
    assert item.topic == evt.topic
    assert item.tenant == evt.tenant
    assert item.payload == evt.payload
    assert item.endpoint == sub.endpoint
    assert item.subscription_id == sub.id
    assert item.integration_id == sub.integration_id
    assert item.signing_keys == (SECRET.encode(),)
    assert item.attempt_number == 1
    assert item.endpoint_failures == 0
    assert item.endpoint_failing_since is None


def test_claim_signs_with_unexpired_secrets_newest_first(store: Store) -> None:
    newest = SigningSecret(value="n" * 32, created_at=at(50))
    retiring = SigningSecret(value=SECRET, created_at=at(0), expires_at=at(100))
    owner = integration(secrets=(newest, retiring))
    store.add_integration(owner)
    made = subscription(owner)
    store.add_subscription(made)
    enqueue_one(store, made)
    enqueue_one(store, made)
    [first] = claim(store, 10, limit=1)
    [second] = claim(store, 200, limit=1)
    assert first.signing_keys == (b"n" * 32, SECRET.encode())
    assert second.signing_keys == (b"n" * 32,)


def test_claim_skips_deliveries_not_yet_due(store: Store, sub: Subscription) -> None:
    later = enqueue_one(store, sub, due=100)
    assert claim(store, 99) == []
    assert [item.delivery_id for item in claim(store, 100)] == [later.id]


def test_a_lease_hides_a_delivery_until_it_expires(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    assert [i.delivery_id for i in claim(store, 1, owner="w1")] == [dlv.id]
    assert claim(store, 2, owner="w2") == []
    assert claim(store, 1 + LEASE.total_seconds() - 1, owner="w2") == []
    [again] = claim(store, 1 + LEASE.total_seconds(), owner="w2")
    assert again.delivery_id == dlv.id
    assert again.attempt_number == 1  # the lost attempt was never recorded


def test_claim_respects_limit_and_takes_oldest_due_first(store: Store, sub: Subscription) -> None:
    made = [enqueue_one(store, sub, created=0, due=due) for due in (30, 10, 20, 40)]
    first = claim(store, 50, limit=2)
    second = claim(store, 50, limit=10)
    assert [i.delivery_id for i in first] == [made[1].id, made[2].id]
    assert [i.delivery_id for i in second] == [made[0].id, made[3].id]
    assert claim(store, 50, limit=10) == []


def test_claim_can_skip_subscriptions(store: Store, sub: Subscription) -> None:
    other = subscription(store.get_integration(sub.integration_id))
    store.add_subscription(other)
    busy = enqueue_one(store, sub)
    waiting = enqueue_one(store, other, created=1)
    items = store.claim(now=at(2), limit=10, owner="w1", lease=LEASE, skip_subscriptions={sub.id})
    assert [i.delivery_id for i in items] == [waiting.id]
    assert [i.delivery_id for i in claim(store, 2)] == [busy.id]


def test_take_moves_a_held_lease_to_exactly_one_new_owner(store: Store, sub: Subscription) -> None:
    first = enqueue_one(store, sub)
    second = enqueue_one(store, sub, created=1)
    claimed = claim(store, 2, owner="pump")
    ids = [i.delivery_id for i in claimed]
    taken = store.take(ids, owner="pump", new_owner="task-1", now=at(3), lease=LEASE)
    assert taken == claimed  # the same work items, due order
    # A duplicate of the same task message finds the leases moved: nothing to do.
    assert store.take(ids, owner="pump", new_owner="task-2", now=at(3), lease=LEASE) == []
    # Only the new owner's verdict counts.
    store.settle([settlement(taken[0], ok=True, started=4)], owner="pump", now=at(5))
    assert store.get_delivery(first.id).status is DeliveryStatus.PENDING
    store.settle([settlement(taken[0], ok=True, started=4)], owner="task-1", now=at(5))
    assert store.get_delivery(first.id).status is DeliveryStatus.DELIVERED
    # The taken lease hides the delivery from claims until it runs out.
    assert claim(store, 3 + LEASE.total_seconds() - 1) == []
    [back] = claim(store, 3 + LEASE.total_seconds())
    assert back.delivery_id == second.id


def test_take_skips_what_the_owner_no_longer_holds(store: Store, sub: Subscription) -> None:
    settled = enqueue_one(store, sub)
    released = enqueue_one(store, sub, created=1)
    items = claim(store, 2, owner="pump")
    store.settle([settlement(items[0], ok=True, started=3)], owner="pump", now=at(3))
    store.release([released.id], owner="pump")
    assert (
        store.take(
            [settled.id, released.id, "dlv_unknown"],
            owner="pump",
            new_owner="task",
            now=at(4),
            lease=LEASE,
        )
        == []
    )


def test_take_cancels_deliveries_of_a_deactivated_integration(
    store: Store, sub: Subscription
) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1, owner="pump")
    owner = store.get_integration(sub.integration_id)
    store.update_integration(owner.model_copy(update={"active": False}))
    assert store.take([item.delivery_id], owner="pump", new_owner="t", now=at(2), lease=LEASE) == []
    assert store.get_delivery(dlv.id).status is DeliveryStatus.CANCELLED


def test_claim_cancels_deliveries_of_an_inactive_integration(
    store: Store, sub: Subscription
) -> None:
    dlv = enqueue_one(store, sub)
    owner = store.get_integration(sub.integration_id)
    store.update_integration(owner.model_copy(update={"active": False}))
    assert claim(store, 1) == []
    assert store.get_delivery(dlv.id).status is DeliveryStatus.CANCELLED


def test_claim_cancels_deliveries_of_an_inactive_subscription(
    store: Store, sub: Subscription
) -> None:
    dead = enqueue_one(store, sub, due=1)
    live_sub = subscription(store.get_integration(sub.integration_id), "*")
    store.add_subscription(live_sub)
    live = enqueue_one(store, live_sub, due=2)
    store.update_subscription(sub.model_copy(update={"active": False}))
    # The cancelled one does not use up the limit.
    assert [i.delivery_id for i in claim(store, 5, limit=1)] == [live.id]
    assert store.get_delivery(dead.id).status is DeliveryStatus.CANCELLED


def test_cancelled_while_in_flight_stays_cancelled(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    store.cancel_pending(now=at(2), subscription_id=sub.id)
    store.settle([settlement(item, ok=True, started=2)], owner="w1", now=at(3))
    assert store.get_delivery(dlv.id).status is DeliveryStatus.CANCELLED
    assert len(store.list_attempts(dlv.id)) == 1


def test_leases_are_per_claim(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = store.claim(now=at(1), limit=1, owner="w1", lease=timedelta(seconds=5))
    assert item.delivery_id == dlv.id
    assert claim(store, 5.5, owner="w2") == []
    assert [i.delivery_id for i in claim(store, 6, owner="w2")] == [dlv.id]

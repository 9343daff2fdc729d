"""The storage port's contract, run against every store: memory, SQLite and PostgreSQL.

Each test states one guarantee of :mod:`acadio_webhooks.ports.storage` that the dispatcher,
the worker or the admin page relies on.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from acadio_webhooks.domain.core import DEFAULT_MAX_PAYLOAD_BYTES
from acadio_webhooks.domain.messages import NotificationKind, WorkItem
from acadio_webhooks.domain.models import Delivery, DeliveryStatus, SigningSecret, Subscription
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import DeliveryQuery, Route, Store
from tests.contract.builders import (
    LEASE,
    SECRET,
    at,
    delivery,
    event,
    integration,
    notification,
    settlement,
    subscription,
)


def enqueue_one(
    store: Store, sub: Subscription, *, created: float = 0, due: float | None = None
) -> Delivery:
    """Store one event with one delivery to ``sub``; return the delivery."""
    owner = store.get_integration(sub.integration_id)
    evt = event(owner.tenant, created=created)
    dlv = delivery(evt, sub, due=due)
    assert store.enqueue(evt, [dlv]) is True
    return dlv


@pytest.fixture
def sub(store: Store) -> Subscription:
    """One active subscription of one active integration of tenant ``acme``."""
    owner = integration()
    store.add_integration(owner)
    made = subscription(owner)
    store.add_subscription(made)
    return made


def claim(store: Store, seconds: float, *, owner: str = "w1", limit: int = 10) -> list[WorkItem]:
    return store.claim(now=at(seconds), limit=limit, owner=owner, lease=LEASE)


# -- integrations and subscriptions --------------------------------------------------------


def test_integration_round_trips_with_its_secrets(store: Store) -> None:
    rotated = SigningSecret(value="x" * 40, created_at=at(5), expires_at=at(3600))
    made = integration(secrets=(SigningSecret(value=SECRET, created_at=at(0)), rotated))
    store.add_integration(made)
    loaded = store.get_integration(made.id)
    assert loaded == made
    assert [s.value.get_secret_value() for s in loaded.secrets] == [SECRET, "x" * 40]


def test_adding_an_existing_integration_id_fails(store: Store) -> None:
    made = integration()
    store.add_integration(made)
    with pytest.raises(StorageError) as raised:
        store.add_integration(made)
    assert SECRET not in str(raised.value)


def test_update_integration_replaces_it(store: Store) -> None:
    made = integration()
    store.add_integration(made)
    changed = made.model_copy(update={"active": False, "notification_email": None})
    store.update_integration(changed)
    assert store.get_integration(made.id) == changed


def test_unknown_ids_raise_not_found(store: Store) -> None:
    cases = [
        ("integration", lambda: store.get_integration("int_nope")),
        ("integration", lambda: store.update_integration(integration(id="int_nope"))),
        ("subscription", lambda: store.get_subscription("sub_nope")),
        ("subscription", lambda: store.delete_subscription("sub_nope")),
        ("event", lambda: store.get_event("evt_nope")),
        ("delivery", lambda: store.get_delivery("dlv_nope")),
        ("delivery", lambda: store.list_attempts("dlv_nope")),
        ("delivery", lambda: store.resend("dlv_nope", now=at(0))),
        ("integration", lambda: store.resend_failed("int_nope", since=at(0), now=at(0))),
    ]
    for kind, call in cases:
        with pytest.raises(NotFound) as raised:
            call()
        assert raised.value.kind == kind


def test_subscription_needs_an_existing_integration(store: Store) -> None:
    orphan = subscription(integration())
    with pytest.raises(NotFound):
        store.add_subscription(orphan)
    with pytest.raises(NotFound):
        store.get_subscription(orphan.id)


def test_update_unknown_subscription_raises_not_found(store: Store, sub: Subscription) -> None:
    stranger = subscription(store.get_integration(sub.integration_id))
    with pytest.raises(NotFound):
        store.update_subscription(stranger)


def test_list_integrations_by_tenant_oldest_first(store: Store) -> None:
    late = integration("acme", created=20)
    early = integration("acme", created=10)
    other = integration("globex", created=5)
    for made in (late, early, other):
        store.add_integration(made)
    assert [i.id for i in store.list_integrations("acme")] == [early.id, late.id]
    assert [i.id for i in store.list_integrations()] == [other.id, early.id, late.id]
    assert store.list_integrations("nobody") == []


def test_subscriptions_crud(store: Store) -> None:
    owner = integration()
    store.add_integration(owner)
    second = subscription(owner, "*/*/create", created=9)
    first = subscription(owner, "course/*", created=1)
    store.add_subscription(second)
    store.add_subscription(first)
    assert store.list_subscriptions(owner.id) == [first, second]

    moved = first.model_copy(update={"endpoint": "https://other.example.com/hook"})
    store.update_subscription(moved)
    assert store.get_subscription(first.id) == moved

    store.delete_subscription(second.id)
    assert store.list_subscriptions(owner.id) == [moved]
    with pytest.raises(NotFound):
        store.get_subscription(second.id)


def test_deleting_a_subscription_cancels_only_its_pending_deliveries(
    store: Store, sub: Subscription
) -> None:
    other = subscription(store.get_integration(sub.integration_id), "*")
    store.add_subscription(other)
    doomed = enqueue_one(store, sub)
    kept = enqueue_one(store, other)
    store.delete_subscription(sub.id)
    assert store.get_delivery(doomed.id).status is DeliveryStatus.CANCELLED
    assert store.get_delivery(kept.id).status is DeliveryStatus.PENDING
    assert [item.delivery_id for item in claim(store, 1)] == [kept.id]


def test_routes_are_active_subscriptions_of_active_integrations(store: Store) -> None:
    live = integration("acme", created=1)
    dead = integration("acme", created=2, active=False)
    foreign = integration("globex", created=3)
    for made in (live, dead, foreign):
        store.add_integration(made)
    on = subscription(live, "course/*", created=1)
    off = subscription(live, "*", created=2, active=False)
    under_dead = subscription(dead, "*", created=3)
    elsewhere = subscription(foreign, "*", created=4)
    for made_sub in (on, off, under_dead, elsewhere):
        store.add_subscription(made_sub)

    snapshot = store.routes("acme")
    assert snapshot.routes == (Route(on.id, live.id, "course/*"),)
    assert snapshot.revision == store.routing_revision()
    assert store.routes("nobody").routes == ()


def test_routing_revision_moves_on_every_admin_change(store: Store) -> None:
    seen = [store.routing_revision()]

    def moved() -> bool:
        seen.append(store.routing_revision())
        return seen[-1] != seen[-2]

    owner = integration()
    store.add_integration(owner)
    assert moved()
    store.update_integration(owner.model_copy(update={"active": False}))
    assert moved()
    made = subscription(owner)
    store.add_subscription(made)
    assert moved()
    store.update_subscription(made.model_copy(update={"pattern": "*"}))
    assert moved()
    store.delete_subscription(made.id)
    assert moved()
    assert not moved()  # reading alone does not move it
    assert store.routes(owner.tenant).revision == seen[-1]


# -- the outbox ----------------------------------------------------------------------------


def test_enqueue_stores_the_event_and_its_deliveries(store: Store, sub: Subscription) -> None:
    evt = event(created=3)
    dlv = delivery(evt, sub, due=3)
    assert store.enqueue(evt, [dlv]) is True
    assert store.get_event(evt.id) == evt
    assert store.get_delivery(dlv.id) == dlv


def test_enqueue_with_a_known_dedup_key_stores_nothing(store: Store, sub: Subscription) -> None:
    first = event(dedup_key="acme:student-1:activity-9:2025-03-01")
    assert store.enqueue(first, [delivery(first, sub)]) is True
    again = event(created=5, dedup_key=first.dedup_key)
    repeated = delivery(again, sub)
    assert store.enqueue(again, [repeated]) is False
    with pytest.raises(NotFound):
        store.get_event(again.id)
    with pytest.raises(NotFound):
        store.get_delivery(repeated.id)
    assert len(claim(store, 10)) == 1


def test_dedup_keys_are_per_tenant(store: Store) -> None:
    owner = integration("globex")
    store.add_integration(owner)
    key = "student-1:activity-9:2025-03-01"
    assert store.enqueue(event("acme", dedup_key=key), []) is True
    assert store.enqueue(event("globex", dedup_key=key), []) is True


def test_dedup_keys_and_tenants_are_compared_exactly(store: Store) -> None:
    # A database's default text comparison may ignore case, accents or trailing spaces
    # (MySQL's usually does): two keys a host tells apart must stay two events.
    owner = integration("ACME")
    store.add_integration(owner)
    keys = ["key", "Key", "key ", "kéy"]
    assert [store.enqueue(event("acme", dedup_key=k), []) for k in keys] == [True] * 4
    assert store.enqueue(event("ACME", dedup_key="key"), []) is True
    assert store.enqueue(event("acme", dedup_key="key "), []) is False


def test_a_payload_of_the_default_size_limit_and_times_to_the_microsecond_round_trip(
    store: Store, sub: Subscription
) -> None:
    payload = b'{"data": "' + b"x" * (DEFAULT_MAX_PAYLOAD_BYTES - 12) + b'"}'
    assert len(payload) == DEFAULT_MAX_PAYLOAD_BYTES
    evt = event(payload=payload).model_copy(
        update={"created_at": at(0) + timedelta(microseconds=123_457)}
    )
    dlv = delivery(evt, sub)
    store.enqueue(evt, [dlv])
    assert store.get_event(evt.id) == evt
    assert store.get_delivery(dlv.id).next_attempt_at == evt.created_at
    [item] = claim(store, 1)
    assert item.payload == payload


def test_enqueue_of_an_existing_event_id_fails(store: Store, sub: Subscription) -> None:
    evt = event()
    store.enqueue(evt, [delivery(evt, sub)])
    with pytest.raises(StorageError):
        store.enqueue(evt, [delivery(evt, sub)])


def test_enqueue_refuses_something_that_is_not_a_connection(store: Store) -> None:
    with pytest.raises(TypeError):
        store.enqueue(event(), [], connection=object())


def test_enqueue_refuses_deliveries_of_another_event(store: Store, sub: Subscription) -> None:
    with pytest.raises(ValueError, match="must name it"):
        store.enqueue(event(), [delivery(event(), sub)])


# -- claim ---------------------------------------------------------------------------------


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


# -- settle --------------------------------------------------------------------------------


def test_success_records_the_attempt_and_delivers(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    done = settlement(item, ok=True, started=2)
    store.settle([done], owner="w1", now=at(3))

    stored = store.get_delivery(dlv.id)
    assert stored.status is DeliveryStatus.DELIVERED
    assert stored.attempts == 1
    assert stored.next_attempt_at is None
    assert stored.last_status_code == 200
    assert stored.last_error is None
    assert stored.updated_at == at(3)
    assert store.list_attempts(dlv.id) == [done.attempt]
    assert claim(store, 1000) == []


def test_failure_schedules_a_retry_and_counts_endpoint_failures(
    store: Store, sub: Subscription
) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    store.settle([settlement(item, ok=False, started=2, retry_at=60)], owner="w1", now=at(3))

    stored = store.get_delivery(dlv.id)
    assert stored.status is DeliveryStatus.PENDING
    assert stored.attempts == 1
    assert stored.next_attempt_at == at(60)
    assert stored.last_status_code == 503
    assert stored.last_error == "service unavailable"
    health = store.get_subscription(sub.id)
    assert health.consecutive_failures == 1
    assert health.failing_since == at(2)

    assert claim(store, 59) == []
    [retry] = claim(store, 60, owner="w2")
    assert retry.attempt_number == 2
    assert retry.endpoint_failures == 1
    assert retry.endpoint_failing_since == at(2)

    store.settle([settlement(retry, ok=False, started=61, retry_at=200)], owner="w2", now=at(62))
    health = store.get_subscription(sub.id)
    assert health.consecutive_failures == 2
    assert health.failing_since == at(2)  # set by the first failure only

    [third] = claim(store, 200)
    store.settle([settlement(third, ok=True, started=201)], owner="w1", now=at(202))
    health = store.get_subscription(sub.id)
    assert health.consecutive_failures == 0
    assert health.failing_since is None
    assert [a.number for a in store.list_attempts(dlv.id)] == [1, 2, 3]


def test_settle_clears_the_lease(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    store.settle([settlement(item, ok=False, started=2, retry_at=3)], owner="w1", now=at(3))
    # Due again at 3 although w1's lease would have held until 31.
    assert [i.delivery_id for i in claim(store, 3, owner="w2")] == [dlv.id]


def test_health_folds_a_batch_in_order(store: Store, sub: Subscription) -> None:
    for _ in range(3):
        enqueue_one(store, sub)
    items = claim(store, 1)
    store.settle(
        [
            settlement(items[0], ok=False, started=2),
            settlement(items[1], ok=True, started=3),
            settlement(items[2], ok=False, started=4),
        ],
        owner="w1",
        now=at(5),
    )
    health = store.get_subscription(sub.id)
    assert health.consecutive_failures == 1
    assert health.failing_since == at(4)


def test_a_paused_subscription_keeps_its_deliveries_pending_until_the_pause_ends(
    store: Store, sub: Subscription
) -> None:
    owner = store.get_integration(sub.integration_id)
    other = subscription(owner)
    store.add_subscription(other)
    failing = enqueue_one(store, sub)
    waiting = enqueue_one(store, sub, created=1)
    [item] = claim(store, 1, limit=1)
    assert item.delivery_id == failing.id
    store.settle(
        [settlement(item, ok=False, started=2, retry_at=10, pause_until=100)],
        owner="w1",
        now=at(3),
    )
    assert store.get_subscription(sub.id).paused_until == at(100)
    unaffected = enqueue_one(store, other, created=4)

    # Both of the paused subscription's deliveries are due, yet only the other one is claimed.
    [other_item] = claim(store, 50)
    assert other_item.delivery_id == unaffected.id
    store.settle([settlement(other_item, ok=True, started=51)], owner="w1", now=at(52))
    assert store.get_delivery(waiting.id).status is DeliveryStatus.PENDING
    assert store.get_delivery(failing.id).next_attempt_at == at(10)  # its schedule is kept
    assert sorted(i.delivery_id for i in claim(store, 100)) == sorted([failing.id, waiting.id])


def test_a_pause_beyond_a_day_is_void_because_the_clock_went_back(
    store: Store, sub: Subscription
) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    # Paused "until" more than a day after the next claim: set before the clock was stepped
    # back, it must not park the endpoint for the length of the jump.
    store.settle(
        [settlement(item, ok=False, started=2, retry_at=10, pause_until=90_000)],
        owner="w1",
        now=at(3),
    )
    assert [i.delivery_id for i in claim(store, 10)] == [dlv.id]


def test_a_longer_pause_wins_and_a_success_ends_it(store: Store, sub: Subscription) -> None:
    for created in range(3):
        enqueue_one(store, sub, created=created)
    first, second, third = claim(store, 5)
    store.settle([settlement(first, ok=False, started=6, pause_until=300)], owner="w1", now=at(7))
    store.settle([settlement(second, ok=False, started=6, pause_until=200)], owner="w1", now=at(8))
    assert store.get_subscription(sub.id).paused_until == at(300)
    store.settle([settlement(third, ok=True, started=6)], owner="w1", now=at(9))
    health = store.get_subscription(sub.id)
    assert health.paused_until is None
    assert health.consecutive_failures == 0


def test_a_success_then_a_failure_in_one_batch_keeps_the_later_pause(
    store: Store, sub: Subscription
) -> None:
    enqueue_one(store, sub)
    enqueue_one(store, sub, created=1)
    ok, bad = claim(store, 2)
    store.settle(
        [
            settlement(ok, ok=True, started=3),
            settlement(bad, ok=False, started=4, pause_until=90),
        ],
        owner="w1",
        now=at(5),
    )
    assert store.get_subscription(sub.id).paused_until == at(90)


def test_giving_up_marks_the_delivery_failed(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    store.settle(
        [settlement(item, ok=False, started=2, status=DeliveryStatus.FAILED)],
        owner="w1",
        now=at(3),
    )
    stored = store.get_delivery(dlv.id)
    assert stored.status is DeliveryStatus.FAILED
    assert stored.next_attempt_at is None
    assert claim(store, 10_000) == []


def test_settle_disables_a_subscription_and_cancels_its_pending(
    store: Store, sub: Subscription
) -> None:
    gone = enqueue_one(store, sub, due=1)
    waiting = enqueue_one(store, sub, due=500)
    [item] = claim(store, 1)
    revision = store.routing_revision()
    store.settle(
        [settlement(item, ok=False, started=2, status=DeliveryStatus.FAILED, disable="410 Gone")],
        owner="w1",
        now=at(3),
    )
    disabled = store.get_subscription(sub.id)
    assert disabled.active is False
    assert disabled.disabled_reason == "410 Gone"
    assert store.get_delivery(gone.id).status is DeliveryStatus.FAILED
    assert store.get_delivery(waiting.id).status is DeliveryStatus.CANCELLED
    assert store.routing_revision() != revision
    assert store.routes("acme").routes == ()


def test_settle_queues_notifications(store: Store, sub: Subscription) -> None:
    enqueue_one(store, sub)
    [item] = claim(store, 1)
    note = notification(item, created=3)
    store.settle(
        [
            settlement(
                item, ok=False, started=2, status=DeliveryStatus.FAILED, notifications=(note,)
            )
        ],
        owner="w1",
        now=at(3),
    )
    assert store.unsent_notifications() == [note]


def test_settle_by_a_former_holder_records_only_the_attempt(
    store: Store, sub: Subscription
) -> None:
    dlv = enqueue_one(store, sub)
    [stale] = claim(store, 1, owner="w1")
    [current] = claim(store, 1 + LEASE.total_seconds(), owner="w2")
    late = settlement(
        stale,
        ok=False,
        started=2,
        status=DeliveryStatus.FAILED,
        disable="410 Gone",
        notifications=(notification(stale, created=40),),
    )
    store.settle([late], owner="w1", now=at(40))

    assert store.list_attempts(dlv.id) == [late.attempt]
    stored = store.get_delivery(dlv.id)
    assert stored.status is DeliveryStatus.PENDING
    assert stored.attempts == 0
    health = store.get_subscription(sub.id)
    assert health.active is True
    assert health.consecutive_failures == 0
    assert store.unsent_notifications() == []
    # The current holder still settles normally.
    store.settle([settlement(current, ok=True, started=41)], owner="w2", now=at(42))
    assert store.get_delivery(dlv.id).status is DeliveryStatus.DELIVERED


def test_settling_the_same_settlements_again_records_them_once(
    store: Store, sub: Subscription
) -> None:
    # A settle whose commit landed but whose acknowledgement was lost is retried by the
    # worker; by then the same worker may have claimed the delivery again.
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    note = notification(item, created=3)
    failed = settlement(item, ok=False, started=2, retry_at=10, notifications=(note,))
    store.settle([failed], owner="w1", now=at(3))
    [again] = claim(store, 10)

    store.settle([failed], owner="w1", now=at(11))

    assert store.list_attempts(dlv.id) == [failed.attempt]
    stored = store.get_delivery(dlv.id)
    assert (stored.attempts, stored.next_attempt_at) == (1, at(10))
    assert store.get_subscription(sub.id).consecutive_failures == 1
    assert store.unsent_notifications() == [note]
    # The second claim's lease still holds and its own verdict goes through.
    assert claim(store, 11, owner="w2") == []
    store.settle([settlement(again, ok=True, started=12)], owner="w1", now=at(13))
    assert store.get_delivery(dlv.id).status is DeliveryStatus.DELIVERED
    assert [a.number for a in store.list_attempts(dlv.id)] == [1, 2]


def test_a_settlement_repeated_within_one_batch_counts_once(
    store: Store, sub: Subscription
) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    failed = settlement(item, ok=False, started=2, status=DeliveryStatus.FAILED)

    store.settle([failed, failed], owner="w1", now=at(3))

    assert store.list_attempts(dlv.id) == [failed.attempt]
    assert store.get_subscription(sub.id).consecutive_failures == 1


def test_settle_skips_a_delivery_that_no_longer_exists_and_records_the_rest(
    store: Store, sub: Subscription
) -> None:
    # An erasure may delete a delivery while its attempt is in flight: raising would make
    # the worker retry the whole batch for ever.
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    ghost = WorkItem(**{**item.__dict__, "delivery_id": "dlv_ghost"})
    verdicts = [settlement(ghost, ok=True, started=2), settlement(item, ok=True, started=2)]
    store.settle(verdicts, owner="w1", now=at(3))
    assert store.get_delivery(dlv.id).status is DeliveryStatus.DELIVERED
    assert len(store.list_attempts(dlv.id)) == 1
    with pytest.raises(NotFound):
        store.get_delivery("dlv_ghost")  # nothing was made up for it


def test_release_makes_deliveries_due_at_once_for_others(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    claim(store, 1, owner="w1")
    store.release([dlv.id], owner="intruder")
    assert claim(store, 2, owner="w2") == []
    store.release([dlv.id], owner="w1")
    [item] = claim(store, 2, owner="w2")
    assert item.delivery_id == dlv.id
    assert item.attempt_number == 1


# -- listings and admin operations ----------------------------------------------------------


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


def test_cancel_pending_by_integration_or_subscription(store: Store, sub: Subscription) -> None:
    owner = store.get_integration(sub.integration_id)
    other = subscription(owner, "*")
    store.add_subscription(other)
    a = enqueue_one(store, sub)
    b = enqueue_one(store, other)
    c = enqueue_one(store, other)
    assert store.cancel_pending(now=at(5), subscription_id=sub.id) == 1
    assert store.get_delivery(a.id).status is DeliveryStatus.CANCELLED
    assert store.get_delivery(a.id).updated_at == at(5)
    assert store.cancel_pending(now=at(6), integration_id=owner.id) == 2
    assert {store.get_delivery(d.id).status for d in (b, c)} == {DeliveryStatus.CANCELLED}
    assert store.cancel_pending(now=at(7), integration_id=owner.id) == 0
    with pytest.raises(TypeError):
        store.cancel_pending(now=at(8))
    with pytest.raises(NotFound):
        store.cancel_pending(now=at(8), subscription_id="sub_nope")


def test_cancelled_while_in_flight_stays_cancelled(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = claim(store, 1)
    store.cancel_pending(now=at(2), subscription_id=sub.id)
    store.settle([settlement(item, ok=True, started=2)], owner="w1", now=at(3))
    assert store.get_delivery(dlv.id).status is DeliveryStatus.CANCELLED
    assert len(store.list_attempts(dlv.id)) == 1


# -- notifications -------------------------------------------------------------------------


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


# -- named leases --------------------------------------------------------------------------

NOTICES = "acadio_webhooks.notices"


def acquire(store: Store, owner: str, seconds: float, *, name: str = NOTICES) -> bool:
    return store.acquire_lease(name, owner, now=at(seconds), ttl=LEASE)


def test_a_free_lease_is_taken_and_held_against_others_until_it_expires(store: Store) -> None:
    assert acquire(store, "flusher-a", 0) is True
    assert acquire(store, "flusher-b", 0) is False
    assert acquire(store, "flusher-b", 29.999) is False
    assert acquire(store, "flusher-b", 30) is True  # expired at now + ttl: taken over
    assert acquire(store, "flusher-a", 31) is False  # the old holder is out


def test_the_holder_renews_its_lease(store: Store) -> None:
    assert acquire(store, "flusher-a", 0) is True
    assert acquire(store, "flusher-a", 20) is True  # now held until 50
    assert acquire(store, "flusher-b", 40) is False
    assert acquire(store, "flusher-b", 50) is True


def test_only_the_holder_releases_a_lease(store: Store) -> None:
    store.release_lease(NOTICES, "flusher-a")  # nothing held: nothing happens
    assert acquire(store, "flusher-a", 0) is True
    store.release_lease(NOTICES, "flusher-b")
    assert acquire(store, "flusher-b", 1) is False
    store.release_lease(NOTICES, "flusher-a")
    assert acquire(store, "flusher-b", 1) is True
    # Expired and taken over: the old holder's release must not free the new holder's lease.
    assert acquire(store, "flusher-a", 40) is True
    store.release_lease(NOTICES, "flusher-b")
    assert acquire(store, "flusher-c", 41) is False


def test_leases_of_different_names_are_independent(store: Store) -> None:
    assert acquire(store, "flusher-a", 0, name="notices") is True
    assert acquire(store, "flusher-b", 0, name="reports") is True
    assert acquire(store, "flusher-b", 0, name="notices") is False


def test_of_concurrent_acquirers_exactly_one_gets_the_lease(store: Store) -> None:
    contenders = 6
    start = threading.Barrier(contenders)

    def race(n: int) -> bool:
        start.wait(timeout=30)
        return acquire(store, f"flusher-{n}", 0)

    with ThreadPoolExecutor(max_workers=contenders) as pool:
        won = list(pool.map(race, range(contenders)))
    assert won.count(True) == 1
    assert acquire(store, f"flusher-{won.index(True)}", 1) is True


@pytest.mark.parametrize(
    ("name", "owner", "ttl", "naive", "complaint"),
    [
        ("", "flusher-a", LEASE, False, "lease name"),
        ("n" * 256, "flusher-a", LEASE, False, "lease name is 256 characters"),
        (NOTICES, "", LEASE, False, "lease owner"),
        (NOTICES, "o" * 256, LEASE, False, "lease owner is 256 characters"),
        (NOTICES, "flusher-a", timedelta(0), False, "ttl must be positive"),
        (NOTICES, "flusher-a", LEASE, True, "timezone-aware"),
    ],
)
def test_bad_lease_arguments_are_refused_and_take_nothing(
    store: Store, name: str, owner: str, ttl: timedelta, naive: bool, complaint: str
) -> None:
    now = at(0).replace(tzinfo=None) if naive else at(0)
    with pytest.raises(ValueError, match=complaint):
        store.acquire_lease(name, owner, now=now, ttl=ttl)
    assert acquire(store, "flusher-z", 0) is True
    assert store.acquire_lease("n" * 255, "o" * 255, now=at(0), ttl=LEASE) is True


# -- lifecycle -----------------------------------------------------------------------------


def test_close_is_idempotent_and_final(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.list_integrations()


def test_stores_satisfy_the_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_leases_are_per_claim(store: Store, sub: Subscription) -> None:
    dlv = enqueue_one(store, sub)
    [item] = store.claim(now=at(1), limit=1, owner="w1", lease=timedelta(seconds=5))
    assert item.delivery_id == dlv.id
    assert claim(store, 5.5, owner="w2") == []
    assert [i.delivery_id for i in claim(store, 6, owner="w2")] == [dlv.id]


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\x00byte"])
def test_text_no_database_can_hold_is_a_store_error_not_a_codec_error(
    store: Store, text: str
) -> None:
    # Ids and filters come from hosts and admin pages; an unencodable one must not escape
    # the port's two error types.
    for read in (
        lambda: store.get_integration(text),
        lambda: store.get_delivery(text),
        lambda: store.routes(text),
        lambda: store.list_deliveries(DeliveryQuery(tenant=text)),
    ):
        try:
            read()
        except (NotFound, StorageError):
            pass

"""The delivery queue role's contract, settle and release, run against every store: how
verdicts are recorded, retries scheduled, endpoints paused and notices queued.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from acadio_webhooks.domain.messages import WorkItem
from acadio_webhooks.domain.models import DeliveryStatus, Subscription
from acadio_webhooks.errors import NotFound
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import (
    LEASE,
    at,
    claim,
    enqueue_one,
    notification,
    settlement,
    subscription,
)


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


def test_each_verdict_of_a_batch_lands_on_its_own_delivery(store: Store, sub: Subscription) -> None:
    delivered, retried, given_up = (enqueue_one(store, sub, created=c) for c in range(3))
    first = claim(store, 3)
    by_id = {item.delivery_id: item for item in first}
    store.settle(
        [settlement(by_id[given_up.id], ok=False, started=4, retry_at=10)], owner="w1", now=at(5)
    )
    [second_try] = claim(store, 10)
    assert second_try.attempt_number == 2

    # One batch, three verdicts that differ in every column a verdict writes.
    store.settle(
        [
            settlement(second_try, ok=False, started=11, status=DeliveryStatus.FAILED),
            settlement(by_id[delivered.id], ok=True, started=11),
            settlement(by_id[retried.id], ok=False, started=11, retry_at=20),
        ],
        owner="w1",
        now=at(12),
    )
    found = {d.id: d for d in (store.get_delivery(x.id) for x in (delivered, retried, given_up))}
    assert [
        (d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.updated_at)
        for d in (found[delivered.id], found[retried.id], found[given_up.id])
    ] == [
        (DeliveryStatus.DELIVERED, 1, None, 200, None, at(12)),
        (DeliveryStatus.PENDING, 1, at(20), 503, "service unavailable", at(12)),
        (DeliveryStatus.FAILED, 2, None, 503, "service unavailable", at(12)),
    ]
    # Its lease is gone too: due at 20, before w1's lease from the claim at 3 would end.
    assert [i.delivery_id for i in claim(store, 20, owner="w2")] == [retried.id]


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


def test_attempts_are_recorded_exactly_as_made(store: Store, sub: Subscription) -> None:
    # A batch's attempts may travel as one array per column (PostgreSQL): text that array
    # syntax gives meaning to, missing values and the longest allowed ones come back as made.
    enqueue_one(store, sub)
    enqueue_one(store, sub)
    first, second = claim(store, 2)
    quirky = settlement(first, ok=True, started=2)
    quirky = replace(
        quirky,
        attempt=quirky.attempt.model_copy(
            update={"response_excerpt": ('{"a": "b,c"}\\ NULL \'q\' «é» ' + "x" * 4096)[:4096]}
        ),
    )
    refused = settlement(second, ok=False, started=2, retry_at=30)
    refused = replace(
        refused,
        attempt=refused.attempt.model_copy(
            update={"status_code": None, "error": "NULL," + "ü" * 995, "duration_ms": 0.125}
        ),
    )

    store.settle([quirky, refused], owner="w1", now=at(3))

    assert store.list_attempts(first.delivery_id) == [quirky.attempt]
    assert store.list_attempts(second.delivery_id) == [refused.attempt]


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

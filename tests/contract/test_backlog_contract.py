"""The backlog gauges' read, as every store answers it: what is pending, what waits for a
worker and since when, what is in flight, and the subscriptions by state."""

from __future__ import annotations

from acadio_webhooks.domain.backlog import SUBSCRIPTION_STATES
from acadio_webhooks.ports.storage import BacklogView, Store
from tests.contract.builders import (
    LEASE,
    at,
    delivery,
    event,
    integration,
    settlement,
    subscription,
)


def test_an_empty_store_has_no_backlog(store: Store) -> None:
    assert isinstance(store, BacklogView)
    backlog = store.backlog(now=at(0))
    assert (backlog.pending, backlog.due, backlog.in_flight) == (0, 0, 0)
    assert backlog.oldest_due_at is None
    assert backlog.oldest_due_seconds(at(0)) == 0.0
    assert dict(backlog.subscriptions) == dict.fromkeys(SUBSCRIPTION_STATES, 0)


def test_the_backlog_counts_what_waits_for_a_worker_and_since_when(store: Store) -> None:
    assert isinstance(store, BacklogView)
    owner, gone = integration(), integration("globex", active=False)
    store.add_integration(owner)
    store.add_integration(gone)
    healthy = subscription(owner)
    failing = subscription(owner, consecutive_failures=2, failing_since=at(0))
    paused = subscription(owner, consecutive_failures=9, failing_since=at(0), paused_until=at(150))
    disabled = subscription(owner, active=False, disabled_reason="410 Gone")
    deactivated = subscription(owner, active=False)
    orphaned = subscription(gone)  # active, but its integration is not
    for sub in (healthy, failing, paused, disabled, deactivated, orphaned):
        store.add_subscription(sub)

    def queued(sub_due: tuple[object, float]) -> str:
        sub, due = sub_due
        evt = event()
        made = delivery(evt, sub, due=due, created=0)  # type: ignore[arg-type]
        store.enqueue(evt, [made])
        return made.id

    done = queued((healthy, 0))
    in_flight = queued((healthy, 3))
    queued((healthy, 10))  # waiting since 10
    queued((healthy, 200))  # not due yet
    lease_ran_out = queued((failing, 5))  # claimed, but its lease ended: waiting again
    queued((paused, 1))  # due, but held back by the circuit breaker

    [first] = store.claim(now=at(1), limit=1, owner="w", lease=LEASE)
    assert first.delivery_id == done
    store.settle([settlement(first, ok=True, started=1)], owner="w", now=at(1))
    [expired] = store.claim(
        now=at(60), limit=1, owner="w", lease=LEASE, skip_subscriptions=[healthy.id]
    )
    assert expired.delivery_id == lease_ran_out  # leased until 90
    [held] = store.claim(
        now=at(95), limit=1, owner="w", lease=LEASE, skip_subscriptions=[failing.id]
    )
    assert held.delivery_id == in_flight  # leased until 125

    backlog = store.backlog(now=at(100))

    assert backlog.pending == 5
    assert backlog.due == 2  # waiting since 10, and the one whose lease ran out (due at 5)
    assert backlog.in_flight == 1
    assert backlog.oldest_due_at == at(5)
    assert backlog.oldest_due_seconds(at(100)) == 95.0
    assert dict(backlog.subscriptions) == {
        "healthy": 1,
        "failing": 1,
        "paused": 1,
        "disabled": 1,
        "deactivated": 2,
    }
    # Once the pause is over its delivery waits too, and its subscription is failing; the
    # lease held at 100 has run out (125) as well.
    later = store.backlog(now=at(150))
    assert (later.due, later.in_flight) == (4, 0)
    assert later.oldest_due_at == at(1)
    assert later.subscriptions["paused"] == 0
    assert later.subscriptions["failing"] == 2

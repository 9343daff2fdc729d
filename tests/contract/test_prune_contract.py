"""Retention, as every store keeps it: only old, final history goes, in batches, and a dry run
deletes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from acadio_webhooks.domain.models import DeliveryStatus, Event, Subscription
from acadio_webhooks.domain.retention import PruneReport
from acadio_webhooks.errors import NotFound
from acadio_webhooks.ports.storage import Store
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

CUTOFF = at(1000)


@dataclass
class History:
    """Events on both sides of the cut-off, named for what prune must do with them."""

    going: list[Event] = field(default_factory=list)
    staying: list[Event] = field(default_factory=list)
    pending_deliveries: list[str] = field(default_factory=list)


def _settled(
    store: Store,
    sub: Subscription,
    *,
    created: float,
    settled: float,
    status: DeliveryStatus = DeliveryStatus.DELIVERED,
    dedup_key: str | None = None,
    notices: int = 0,
) -> Event:
    """An event whose one delivery was attempted once and reached ``status`` at ``settled``."""
    evt = event(created=created, dedup_key=dedup_key)
    store.enqueue(evt, [delivery(evt, sub)])
    [item] = store.claim(now=at(settled), limit=1, owner="w", lease=LEASE)
    ok = status is DeliveryStatus.DELIVERED
    made = tuple(notification(item, created=settled) for _ in range(notices))
    verdict = settlement(item, ok=ok, started=settled, status=status, notifications=made)
    store.settle([verdict], owner="w", now=at(settled))
    return evt


def _history(store: Store) -> History:
    owner = integration()
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    cancelled_sub = subscription(owner)
    store.add_subscription(cancelled_sub)
    history = History()
    # Old, final, last changed before the cut-off: these go, with their attempts.
    history.going.append(_settled(store, sub, created=10, settled=20, dedup_key="k1"))
    history.going.append(
        _settled(store, sub, created=30, settled=40, status=DeliveryStatus.FAILED, notices=1)
    )
    [notice] = store.unsent_notifications()
    store.mark_notifications_sent([notice.id], now=at(45))  # mailed long ago: it goes too
    cancelled = event(created=50)
    store.enqueue(cancelled, [delivery(cancelled, cancelled_sub)])
    assert store.cancel_pending(now=at(55), subscription_id=cancelled_sub.id) == 1
    history.going.append(cancelled)
    unrouted = event(created=60)  # no subscription matched it
    store.enqueue(unrouted, [])
    history.going.append(unrouted)
    # Old, but its verdict came after the cut-off (a back-dated event): it stays.
    history.staying.append(_settled(store, sub, created=70, settled=1500))
    # New: stays.
    history.staying.append(_settled(store, sub, created=1200, settled=1300))
    # Old, with one delivery final and one still pending: the event stays, with both.
    mixed = event(created=90)
    first, second = delivery(mixed, sub), delivery(mixed, sub)
    store.enqueue(mixed, [first, second])
    [item] = store.claim(now=at(100), limit=1, owner="w", lease=LEASE)
    store.settle([settlement(item, ok=True, started=100)], owner="w", now=at(100))
    history.staying.append(mixed)
    history.pending_deliveries.append(second.id if item.delivery_id == first.id else first.id)
    # Old and pending (an endpoint down for weeks): it stays whatever its age.
    waiting = event(created=80)
    waiting_delivery = delivery(waiting, sub)
    store.enqueue(waiting, [waiting_delivery])
    history.staying.append(waiting)
    history.pending_deliveries.append(waiting_delivery.id)
    return history


EXPECTED = PruneReport(events=4, deliveries=3, attempts=2, notifications=1, examined=7)


def _total(store: Store, *, limit: int = 500, dry_run: bool = False) -> PruneReport:
    total = PruneReport(dry_run=dry_run)
    for batch in store.prune(CUTOFF, limit=limit, dry_run=dry_run):
        total += batch
    return total


def _present(store: Store, evt: Event) -> bool:
    try:
        store.get_event(evt.id)
    except NotFound:
        return False
    return True


def test_prune_removes_only_old_final_history(store: Store) -> None:
    history = _history(store)
    assert _total(store) == EXPECTED
    assert not any(_present(store, evt) for evt in history.going)
    assert all(_present(store, evt) for evt in history.staying)
    for delivery_id in history.pending_deliveries:
        assert store.get_delivery(delivery_id).status is DeliveryStatus.PENDING
    # Nothing old and final is left: a second run deletes nothing.
    assert _total(store) == PruneReport(examined=3)


def test_a_dry_run_deletes_nothing_and_counts_what_would_go(store: Store) -> None:
    history = _history(store)
    would = _total(store, dry_run=True)
    assert would == PruneReport(
        events=4, deliveries=3, attempts=2, notifications=1, examined=7, dry_run=True
    )
    assert all(_present(store, evt) for evt in history.going + history.staying)
    assert _total(store) == EXPECTED


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_small_batches_step_over_kept_events_and_prune_the_same(store: Store, limit: int) -> None:
    _history(store)
    batches = list(store.prune(CUTOFF, limit=limit))
    assert len(batches) > 7 // limit  # one transaction per batch of old events, at most
    total = PruneReport()
    for batch in batches:
        assert batch.examined <= limit
        total += batch
    assert total == EXPECTED


def test_unsent_and_recently_sent_notices_stay(store: Store) -> None:
    owner = integration()
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    _settled(store, sub, created=10, settled=20, status=DeliveryStatus.FAILED, notices=3)
    [old, recent, unsent] = store.unsent_notifications()
    store.mark_notifications_sent([old.id], now=at(30))
    store.mark_notifications_sent([recent.id], now=at(1100))
    assert _total(store).notifications == 1
    assert [n.id for n in store.unsent_notifications()] == [unsent.id]
    assert store.last_notice_at(owner.id) == at(1100)


def test_a_pruned_events_dedup_key_can_be_used_again(store: Store) -> None:
    history = _history(store)
    _total(store)
    again = event(created=2000, dedup_key="k1")
    assert history.going[0].dedup_key is not None
    assert store.enqueue(again, []) is True


def test_prune_refuses_a_naive_cut_off_or_an_empty_batch(store: Store) -> None:
    history = _history(store)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.prune(CUTOFF.replace(tzinfo=None))
    with pytest.raises(ValueError, match="positive"):
        store.prune(CUTOFF, limit=0)
    assert all(_present(store, evt) for evt in history.going)


def test_stopping_early_leaves_the_rest_for_the_next_run(store: Store) -> None:
    _history(store)
    batches = store.prune(CUTOFF, limit=1)
    first = next(batches)  # the oldest event: final, so it went
    del batches  # the caller gave up after one batch
    assert first == PruneReport(events=1, deliveries=1, attempts=1, examined=1)
    assert first + _total(store) == EXPECTED

"""``Store.enqueue_routed``'s contract, on every store: events stored with the deliveries a
planner makes from the routing table read in the same transaction, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from acadio_webhooks.domain.models import Delivery, Event, Subscription
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import Route, RoutingView, Store
from tests.contract.builders import LEASE, at, delivery, event, integration, subscription


class Planner:
    """A delivery planner routing every event to the subscriptions its tenant's routes name,
    recording what the store showed it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[int, list[str]]] = []
        self.routes: dict[str, tuple[Route, ...]] = {}

    def __call__(self, view: RoutingView, events: Sequence[Event]) -> list[list[Delivery]]:
        self.calls.append((view.revision, [e.id for e in events]))
        self.routes = view.routes({e.tenant for e in events})
        return [
            [
                delivery(evt, self.store.get_subscription(r.subscription_id))
                for r in self.routes[evt.tenant]
            ]
            for evt in events
        ]


def subscribed(store: Store, tenant: str = "acme", pattern: str = "course/*") -> Subscription:
    owner = integration(tenant)
    store.add_integration(owner)
    made = subscription(owner, pattern)
    store.add_subscription(made)
    return made


def claimed_event_ids(store: Store) -> list[str]:
    return [item.event_id for item in store.claim(now=at(60), limit=100, owner="w", lease=LEASE)]


def test_events_are_stored_with_the_planned_deliveries(store: Store) -> None:
    sub = subscribed(store)
    planner = Planner(store)
    batch = [event(created=n) for n in range(3)]
    assert store.enqueue_routed(batch, planner) == [True, True, True]
    assert [store.get_event(evt.id) for evt in batch] == batch
    assert claimed_event_ids(store) == [evt.id for evt in batch]
    [(revision, given)] = planner.calls
    assert revision == store.routing_revision()
    assert given == [evt.id for evt in batch]
    assert planner.routes == {"acme": (Route(sub.id, sub.integration_id, sub.pattern),)}


def test_the_view_reads_routes_of_the_tenants_asked_for_only(store: Store) -> None:
    subscribed(store, "acme")
    subscribed(store, "globex")
    seen: dict[str, tuple[Route, ...]] = {}

    def plan(view: RoutingView, events: Sequence[Event]) -> list[list[Delivery]]:
        seen.update(view.routes(["globex", "initech"]))
        return [[] for _ in events]

    assert store.enqueue_routed([event("acme")], plan) == [True]
    assert set(seen) == {"globex", "initech"}
    assert seen["initech"] == ()
    assert [r.pattern for r in seen["globex"]] == ["course/*"]


def test_the_view_sees_routing_changes_committed_before_the_batch(store: Store) -> None:
    sub = subscribed(store)
    planner = Planner(store)
    store.enqueue_routed([event()], planner)
    store.update_subscription(sub.model_copy(update={"active": False}))
    store.enqueue_routed([event()], planner)
    (before, _), (after, _) = planner.calls
    assert after == store.routing_revision() != before
    assert planner.routes == {"acme": ()}


def test_a_dedup_key_already_stored_or_earlier_in_the_batch_suppresses_the_event(
    store: Store,
) -> None:
    subscribed(store)
    planner = Planner(store)
    stored = event(dedup_key="k-1")
    assert store.enqueue_routed([stored], planner) == [True]
    again = event(created=1, dedup_key="k-1")
    first, twin = event(created=2, dedup_key="k-2"), event(created=3, dedup_key="k-2")
    plain = event(created=4)
    assert store.enqueue_routed([again, first, twin, plain], planner) == [False, True, False, True]
    # The planner never sees the later twin; it may or may not see the already stored key.
    assert twin.id not in planner.calls[-1][1]
    for missing in (again, twin):
        with pytest.raises(NotFound):
            store.get_event(missing.id)
    assert claimed_event_ids(store) == [stored.id, first.id, plain.id]


def test_dedup_keys_in_one_batch_are_per_tenant(store: Store) -> None:
    subscribed(store, "acme")
    subscribed(store, "globex")
    batch = [event("acme", dedup_key="k"), event("globex", dedup_key="k")]
    assert store.enqueue_routed(batch, Planner(store)) == [True, True]


@pytest.mark.parametrize("size", [1, 3])
def test_a_planner_error_stores_nothing_and_propagates(store: Store, size: int) -> None:
    subscribed(store)

    def broken(view: RoutingView, events: Sequence[Event]) -> list[list[Delivery]]:
        raise RuntimeError("planner bug")

    batch = [event(created=n) for n in range(size)]
    with pytest.raises(RuntimeError, match="planner bug"):
        store.enqueue_routed(batch, broken)
    for evt in batch:
        with pytest.raises(NotFound):
            store.get_event(evt.id)


def test_a_planner_must_plan_for_every_event_it_is_given(store: Store) -> None:
    sub = subscribed(store)
    batch = [event(), event(created=1)]
    with pytest.raises(ValueError, match="1 delivery lists for 2 events"):
        store.enqueue_routed(batch, lambda view, events: [[delivery(events[0], sub)]])
    with pytest.raises(ValueError, match="must name it"):
        store.enqueue_routed(batch, lambda view, events: [[delivery(batch[1], sub)], []])
    twice = delivery(batch[0], sub)
    with pytest.raises(ValueError, match="distinct ids"):
        store.enqueue_routed(
            batch,
            lambda view, events: [[twice], [twice.model_copy(update={"event_id": batch[1].id})]],
        )
    assert claimed_event_ids(store) == []


def test_an_existing_event_id_fails_the_whole_batch(store: Store) -> None:
    subscribed(store)
    planner = Planner(store)
    old = event()
    store.enqueue_routed([old], planner)
    fresh = event(created=1)
    with pytest.raises(StorageError):
        store.enqueue_routed([fresh, old], planner)
    with pytest.raises(NotFound):
        store.get_event(fresh.id)
    assert claimed_event_ids(store) == [old.id]


def test_an_empty_batch_stores_nothing_and_plans_nothing(store: Store) -> None:
    planner = Planner(store)
    assert store.enqueue_routed([], planner) == []
    assert planner.calls == []


def test_enqueue_routed_refuses_something_that_is_not_a_connection(store: Store) -> None:
    with pytest.raises(TypeError):
        store.enqueue_routed([event()], Planner(store), connection=object())

"""``emit_many`` on every store (memory, SQLite, PostgreSQL), sync and async: a batch is
stored as the same events emitted one by one would be, in one transaction, all or nothing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.dispatcher import AsyncDispatcher, Dispatcher, NewEvent
from acadio_webhooks.domain.models import Integration
from acadio_webhooks.errors import (
    AcadioWebhooksError,
    InvalidPayload,
    InvalidTopic,
    UnknownTopic,
)
from acadio_webhooks.ports.storage import DeliveryQuery, Store
from tests.contract.builders import LEASE, T0, integration, subscription

SECRET = "whsec-emit-many-0123456789"
RESOLVER = StaticResolver({"hooks.example.com": ["93.184.216.34"]})
COMPLETION = "course/completion/create"
ACTIVITY = "course/activity/create"
USER = "identity/user/create"


class World:
    """A dispatcher on the store with tenant ``acme`` subscribed to ``course/*``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = FakeClock(T0)
        self.dispatcher = Dispatcher(store, clock=self.clock, resolver=RESOLVER)
        self.integration = self.dispatcher.integrations.install("acme", secret=SECRET)
        self.course = self.subscribe("course/*")

    def subscribe(self, pattern: str, *, by: Dispatcher | None = None) -> str:
        admin = (by or self.dispatcher).integrations
        url = f"https://hooks.example.com/{pattern.replace('*', 'any')}"
        return admin.subscribe(self.integration.id, pattern, url).id

    def routed(self) -> dict[str, set[str]]:
        """Event id -> the subscriptions it has deliveries to."""
        found: dict[str, set[str]] = {}
        for delivery in self.store.list_deliveries(DeliveryQuery(limit=1000)).items:
            found.setdefault(delivery.event_id, set()).add(delivery.subscription_id)
        return found

    def claim_order(self) -> list[str]:
        claimed = self.store.claim(now=T0 + timedelta(days=3), limit=1000, owner="w", lease=LEASE)
        return [item.event_id for item in claimed]


@pytest.fixture
def world(store: Store) -> World:
    return World(store)


def test_a_batch_is_stored_like_emits_and_returns_ids_in_order(world: World) -> None:
    events = [
        NewEvent(COMPLETION, {"course_id": 1}, tenant="acme"),
        NewEvent(USER, {"user_id": 2}, tenant="acme"),
        NewEvent("course/activity/update", {"course_id": 3}, tenant="acme"),
    ]
    ids = world.dispatcher.emit_many(events)
    assert len(ids) == 3
    assert all(ids)
    assert len(set(ids)) == 3
    for event_id, sent in zip(ids, events, strict=True):
        assert event_id is not None
        stored = world.dispatcher.event(event_id)
        assert (stored.topic, stored.tenant) == (sent.topic, sent.tenant)
        assert json.loads(stored.payload)["data"] == sent.data
    assert world.routed() == {ids[0]: {world.course}, ids[2]: {world.course}}


def test_deliveries_of_one_batch_are_claimed_in_the_order_given(world: World) -> None:
    # The fake clock never moves, so every event shares one due time: ids decide the order.
    ids = world.dispatcher.emit_many(
        NewEvent(COMPLETION, {"n": n}, tenant="acme") for n in range(40)
    )
    assert world.claim_order() == ids


def test_dedup_keys_suppress_within_a_batch_and_across_batches(world: World) -> None:
    first = world.dispatcher.emit_many(
        [
            NewEvent(COMPLETION, {"n": 1}, tenant="acme", dedup_key="grade-1"),
            NewEvent(COMPLETION, {"n": 2}, tenant="acme", dedup_key="grade-1"),
            NewEvent(COMPLETION, {"n": 3}, tenant="acme"),
            NewEvent(COMPLETION, {"n": 4}, tenant="acme"),
        ]
    )
    assert [event_id is not None for event_id in first] == [True, False, True, True]
    second = world.dispatcher.emit_many(
        [
            NewEvent(COMPLETION, {"n": 5}, tenant="acme", dedup_key="grade-1"),
            NewEvent(COMPLETION, {"n": 6}, tenant="acme", dedup_key="grade-2"),
        ]
    )
    assert second[0] is None
    assert second[1] is not None
    assert world.dispatcher.emit(COMPLETION, {"n": 7}, tenant="acme", dedup_key="grade-2") is None
    stored = {first[0], first[2], first[3], second[1]}
    assert set(world.routed()) == stored


def test_a_once_a_day_topic_fires_once_per_key_and_day_within_a_batch(world: World) -> None:
    today, tomorrow = T0, T0 + timedelta(days=1)
    ids = world.dispatcher.emit_many(
        NewEvent(ACTIVITY, {}, tenant="acme", dedup_key=key, occurred_at=when)
        for key, when in [("s1:a1", today), ("s1:a1", today), ("s2:a1", today), ("s1:a1", tomorrow)]
    )
    assert [event_id is not None for event_id in ids] == [True, False, True, True]


def _call_emit(world: World, bad: NewEvent) -> AcadioWebhooksError:
    with pytest.raises(AcadioWebhooksError) as raised:
        world.dispatcher.emit(
            bad.topic,
            bad.data,
            tenant=bad.tenant,
            dedup_key=bad.dedup_key,
            occurred_at=bad.occurred_at,
        )
    return raised.value


BAD_EVENTS = {
    "unknown topic": (NewEvent("course/nothing/here", {}, tenant="acme"), "events[1].topic: "),
    "malformed topic": (NewEvent("Course/*", {}, tenant="acme"), "events[1].topic: "),
    "not JSON": (NewEvent(COMPLETION, {"x": float("nan")}, tenant="acme"), "events[1].data['x']"),
    "not an object": (NewEvent(COMPLETION, [1], tenant="acme"), "events[1].data must"),  # type: ignore[arg-type]
    "too large": (NewEvent(COMPLETION, {"s": "x" * 300_000}, tenant="acme"), "events[1].data "),
    "empty tenant": (NewEvent(COMPLETION, {}, tenant=""), "events[1].tenant must"),
    "naive time": (
        NewEvent(COMPLETION, {}, tenant="acme", occurred_at=T0.replace(tzinfo=None)),
        "events[1].occurred_at must",
    ),
    "missing once-a-day key": (NewEvent(ACTIVITY, {}, tenant="acme"), "events[1].dedup_key "),
    "dedup key not text": (
        NewEvent(COMPLETION, {}, tenant="acme", dedup_key=7),  # type: ignore[arg-type]
        "events[1].dedup_key must",
    ),
}


@pytest.mark.parametrize("case", BAD_EVENTS)
def test_one_bad_event_raises_what_emit_raises_at_its_index_and_stores_nothing(
    world: World, case: str
) -> None:
    bad, where = BAD_EVENTS[case]
    expected = _call_emit(world, bad)
    assert isinstance(expected, (UnknownTopic, InvalidTopic, InvalidPayload))
    good = NewEvent(COMPLETION, {"n": 1}, tenant="acme")
    with pytest.raises(type(expected)) as raised:
        world.dispatcher.emit_many([good, bad, good])
    message = str(raised.value)
    assert message.startswith(where)
    assert message.endswith(str(expected))
    assert world.routed() == {}
    assert world.claim_order() == []


def test_an_item_that_is_not_a_new_event_is_refused_at_its_index(world: World) -> None:
    with pytest.raises(TypeError, match=r"events\[1\] must be a NewEvent, not dict"):
        world.dispatcher.emit_many(
            [NewEvent(COMPLETION, {}, tenant="acme"), {"topic": COMPLETION}]  # type: ignore[list-item]
        )
    assert world.routed() == {}


def test_an_empty_batch_stores_nothing(world: World) -> None:
    assert world.dispatcher.emit_many([]) == []
    assert world.routed() == {}


def test_routing_changes_made_elsewhere_are_seen_by_the_next_batch(world: World) -> None:
    # A second dispatcher on the same store stands for another process: it shares nothing
    # with the first but the store, and the first's routing cache must not hide its changes.
    admin = Dispatcher(world.store, clock=world.clock, resolver=RESOLVER)
    batch = [NewEvent(COMPLETION, {}, tenant="acme")]
    [before] = world.dispatcher.emit_many(batch)
    added = world.subscribe(COMPLETION, by=admin)
    [after_add] = world.dispatcher.emit_many(batch)
    admin.integrations.update_subscription(world.course, active=False)
    [after_pause] = world.dispatcher.emit_many(batch)
    admin.integrations.unsubscribe(added)
    [after_delete] = world.dispatcher.emit_many(batch)
    admin.integrations.update_subscription(world.course, active=True)
    admin.integrations.deactivate(world.integration.id)
    [after_deactivate] = world.dispatcher.emit_many(batch)
    routed = world.routed()
    assert routed[before] == {world.course}
    assert routed[after_add] == {world.course, added}
    assert routed[after_pause] == {added}
    assert after_delete not in routed
    assert after_deactivate not in routed


def test_a_memory_store_refuses_a_host_connection() -> None:
    world = World(MemoryStore())
    with pytest.raises(TypeError, match="cannot join a host transaction"):
        world.dispatcher.emit_many([NewEvent(COMPLETION, {}, tenant="acme")], connection=object())


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_async_twin_stores_the_same_batch(store: Store, anyio_backend: str) -> None:
    clock = FakeClock(T0)
    dispatcher = AsyncDispatcher(store, clock=clock, resolver=RESOLVER)
    integration_ = dispatcher.integrations.install("acme", secret=SECRET)
    sub = dispatcher.integrations.subscribe(
        integration_.id, "course/*", "https://hooks.example.com/all"
    )

    def events() -> Iterator[NewEvent]:  # a generator: consumed before the thread hop
        yield NewEvent(COMPLETION, {"n": 1}, tenant="acme", dedup_key="k")
        yield NewEvent(COMPLETION, {"n": 2}, tenant="acme", dedup_key="k")
        yield NewEvent(USER, {"n": 3}, tenant="acme")

    first, twin, user = await dispatcher.emit_many(events())
    assert first is not None
    assert twin is None
    assert user is not None
    page = await dispatcher.deliveries()
    assert [(d.event_id, d.subscription_id) for d in page.items] == [(first, sub.id)]
    with pytest.raises(UnknownTopic, match=r"^events\[0\]\.topic: "):
        await dispatcher.emit_many([NewEvent("course/nothing/here", {}, tenant="acme")])


# -- emit_many(xs) stores what [emit(x) for x in xs] stores --------------------------------

_TOPICS = [COMPLETION, ACTIVITY, USER, "surveys/survey/complete"]
_PATTERNS = {"t1": ["course/*", "*/*/create"], "t2": ["identity/*"], "t3": []}
_worlds = itertools.count()


@st.composite
def new_events(draw: st.DrawFn) -> NewEvent:
    topic = draw(st.sampled_from(_TOPICS))
    key = draw(st.sampled_from(["a", "b"]) if topic == ACTIVITY else st.sampled_from([None, "a"]))
    return NewEvent(
        topic,
        {"n": draw(st.integers(0, 3))},
        tenant=draw(st.sampled_from(sorted(_PATTERNS))),
        dedup_key=key,
        occurred_at=T0 + timedelta(hours=draw(st.sampled_from([0, 1, 30]))),
    )


def _subscribed_world(store: Store, prefix: str) -> tuple[Dispatcher, Callable[[str], str]]:
    """A dispatcher whose tenants are ``prefix`` + t1/t2/t3, subscribed as ``_PATTERNS`` says
    (plus an inactive subscription that must receive nothing); and a function naming each
    subscription id by its tenant and pattern, the same in every world."""
    dispatcher = Dispatcher(store, resolver=RESOLVER)
    roles: dict[str, str] = {}
    for tenant, patterns in _PATTERNS.items():
        owner: Integration = integration(prefix + tenant)
        store.add_integration(owner)
        for pattern in patterns:
            made = subscription(owner, pattern)
            store.add_subscription(made)
            roles[made.id] = f"{tenant} {pattern}"
        store.add_subscription(subscription(owner, "*", active=False))
    return dispatcher, roles.__getitem__


def _stored(
    store: Store, ids: list[str | None], role: Callable[[str], str]
) -> set[tuple[int, str]]:
    index = {event_id: n for n, event_id in enumerate(ids) if event_id is not None}
    query = DeliveryQuery(limit=10_000)
    return {
        (index[d.event_id], role(d.subscription_id))
        for d in store.list_deliveries(query).items
        if d.event_id in index
    }


@settings(
    max_examples=25,
    # One store (function-scoped, per adapter) serves every example on purpose: opening a
    # PostgreSQL store per example would cost seconds; each example gets its own tenants.
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(batch=st.lists(new_events(), max_size=12))
def test_emit_many_stores_what_emitting_one_by_one_stores(
    store: Store, batch: list[NewEvent]
) -> None:
    # Each example gets tenants of its own, so examples sharing the store never meet.
    world = next(_worlds)
    one_by_one, role_a = _subscribed_world(store, f"seq{world}-")
    together, role_b = _subscribed_world(store, f"bat{world}-")

    def moved(event: NewEvent, prefix: str) -> NewEvent:
        return NewEvent(
            event.topic,
            event.data,
            tenant=prefix + event.tenant,
            dedup_key=event.dedup_key,
            occurred_at=event.occurred_at,
        )

    expected = [
        one_by_one.emit(
            e.topic, e.data, tenant=e.tenant, dedup_key=e.dedup_key, occurred_at=e.occurred_at
        )
        for e in (moved(e, f"seq{world}-") for e in batch)
    ]
    got = together.emit_many(moved(e, f"bat{world}-") for e in batch)
    assert [i is None for i in got] == [i is None for i in expected]
    assert _stored(store, got, role_b) == _stored(store, expected, role_a)
    for mine, theirs in zip(got, expected, strict=True):
        if mine is not None and theirs is not None:
            body, reference = (json.loads(store.get_event(i).payload) for i in (mine, theirs))
            assert body["data"] == reference["data"]
            assert body["topic"] == reference["topic"]
            assert body["created_at"] == reference["created_at"]

"""Erasure, as every store does it: every event of one subject (or tenant) goes, with its
deliveries, attempts and notices, pending or not; nothing of anyone else's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.storage.sql.schema import metadata
from acadio_webhooks.domain.models import DeliveryStatus, Event
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
from tests.stores import STORE_KINDS, open_store

STUDENT = "student-3f9c"  # also inside the payload, as a host would put it


def _payload(who: str) -> bytes:
    return b'{"data": {"student": "%s", "score": 1}}' % who.encode()


def _world(store: Store) -> tuple[list[Event], list[Event], str]:
    """Three events about STUDENT (one failed with a notice, one delivered, one pending and
    leased to a worker), two about someone else; the id of the leased delivery."""
    owner = integration()
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    theirs = [event(created=n, subject=STUDENT, payload=_payload(STUDENT)) for n in (1, 2, 3)]
    others = [event(created=n, subject="student-other", payload=_payload("x")) for n in (4, 5)]
    for evt in [*theirs, *others]:
        store.enqueue(evt, [delivery(evt, sub)])
    items = store.claim(now=at(10), limit=5, owner="w", lease=LEASE)
    by_event = {item.event_id: item for item in items}
    failed, delivered = by_event[theirs[0].id], by_event[theirs[1].id]
    verdicts = [
        settlement(
            failed,
            ok=False,
            started=11,
            status=DeliveryStatus.FAILED,
            notifications=(notification(failed, created=11),),
        ),
        settlement(delivered, ok=True, started=11),
        *(settlement(by_event[e.id], ok=True, started=11) for e in others),
    ]
    store.settle(verdicts, owner="w", now=at(12))
    return theirs, others, by_event[theirs[2].id].delivery_id


def test_erase_deletes_every_event_of_the_subject_and_nothing_else(store: Store) -> None:
    theirs, others, leased = _world(store)

    would = list(store.erase(subject=STUDENT, dry_run=True, limit=2))
    assert sum(would, PruneReport(dry_run=True)) == PruneReport(
        events=3, deliveries=3, attempts=2, notifications=1, examined=3, dry_run=True
    )
    assert store.get_event(theirs[0].id).subject == STUDENT  # a dry run deletes nothing

    done = sum(store.erase(subject=STUDENT, limit=2), PruneReport())
    assert done == PruneReport(events=3, deliveries=3, attempts=2, notifications=1, examined=3)
    for evt in theirs:
        with pytest.raises(NotFound):
            store.get_event(evt.id)
    with pytest.raises(NotFound):
        store.get_delivery(leased)
    assert store.unsent_notifications() == []
    for evt in others:
        assert store.get_event(evt.id).id == evt.id
    # Nothing left to claim of the erased pending delivery, even after its lease.
    assert store.claim(now=at(10_000), limit=10, owner="w2", lease=LEASE) == []
    assert list(store.erase(subject=STUDENT)) == []  # erasing again finds nothing


def test_an_attempt_in_flight_when_its_delivery_is_erased_is_not_recorded(store: Store) -> None:
    owner = integration()
    store.add_integration(owner)
    sub = subscription(owner)
    store.add_subscription(sub)
    theirs, other = event(subject=STUDENT), event(subject="someone-else")
    for evt in (theirs, other):
        store.enqueue(evt, [delivery(evt, sub)])
    in_flight = store.claim(now=at(1), limit=2, owner="w", lease=LEASE)
    list(store.erase(subject=STUDENT))

    # The worker's verdicts come back after the erasure: the other one is still recorded.
    store.settle([settlement(item, ok=True, started=2) for item in in_flight], owner="w", now=at(3))
    [kept] = [item for item in in_flight if item.event_id == other.id]
    assert store.get_delivery(kept.delivery_id).status is DeliveryStatus.DELIVERED
    assert len(store.list_attempts(kept.delivery_id)) == 1


def test_erase_by_tenant_takes_the_tenants_events_only(store: Store) -> None:
    for tenant in ("school-a", "school-b"):
        store.add_integration(integration(tenant))
    gone = [event("school-a", created=n) for n in range(3)]
    kept = event("school-b")
    for evt in [*gone, kept]:
        store.enqueue(evt, [])
    assert sum(store.erase(tenant="school-a", limit=2), PruneReport()).events == 3
    assert store.get_event(kept.id).id == kept.id
    with pytest.raises(NotFound):
        store.get_event(gone[0].id)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "exactly one of subject= or tenant="),
        ({"subject": "s", "tenant": "t"}, "exactly one of subject= or tenant="),
        ({"subject": ""}, "subject must be a non-empty string"),
        ({"tenant": 7}, "tenant must be a non-empty string"),
        ({"subject": "s", "limit": 0}, "limit must be a positive integer"),
    ],
)
def test_erase_refuses_what_it_cannot_mean_before_touching_anything(
    store: Store, kwargs: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        store.erase(**kwargs)  # type: ignore[arg-type]


@pytest.fixture(params=[k for k in STORE_KINDS if k != "memory"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    made = open_store(request.param, request, tmp_path)
    assert isinstance(made, SqlStore)
    yield made
    made.close()


def test_after_erasure_no_row_of_any_table_holds_the_subject_or_its_events(
    sql_store: SqlStore,
) -> None:
    store = sql_store
    theirs, others, leased = _world(store)
    list(store.erase(subject=STUDENT))

    wanted = [STUDENT, leased, *(e.id for e in theirs)]
    found: list[str] = []
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                text = repr(tuple(row))
                found += [f"{table.name}: {w}" for w in wanted if w in text]
    assert found == []
    # The scan does see the others' rows: it would find them if they were the ones erased.
    with store.engine.connect() as conn:
        rows = [repr(tuple(r)) for t in metadata.sorted_tables for r in conn.execute(select(t))]
    assert any(others[0].id in row for row in rows)
    assert any("student-other" in row for row in rows)

"""The outbox role's contract (``enqueue``), run against every store: what ``emit`` relies on.

``enqueue_routed`` and ``emit_many`` have suites of their own beside this one.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from acadio_webhooks.domain.models import Subscription
from acadio_webhooks.domain.planning import DEFAULT_MAX_PAYLOAD_BYTES
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import Store
from tests.contract.builders import (
    at,
    claim,
    delivery,
    event,
    integration,
)


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

"""The leases role's contract, run against every store: one holder of a named lease at a
time, across threads and processes.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from acadio_webhooks.ports.storage import Store
from tests.contract.builders import (
    LEASE,
    at,
)

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

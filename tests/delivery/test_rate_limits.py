"""Rate limits: set through the library, and end to end, where a loopback receiver counts
what a limited endpoint gets.

A 5/s endpoint with a backlog, beside an unlimited one: the receiver never sees more than
five a second plus the one-second burst, with one worker and with three workers on one
PostgreSQL database, while the unlimited endpoint is served in full long before the
limited backlog is through. Waiting is not an attempt: every delivery is delivered on its
first. The bounds are on what the receiver sees (a busy machine only slows deliveries
down, which never breaks them); the only timing is the backlog's own minimum duration.
"""

from __future__ import annotations

import math

import pytest

from acadio_webhooks import Dispatcher, EndpointPolicy
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.errors import InvalidInput
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.worker import WorkerSettings
from tests.loopback import LoopbackReceiver, Received, loopback_receiver, wait_until

SECRET = "whsec-0123456789abcdef"
INSECURE = EndpointPolicy(allow_insecure=True)
RATE = 5.0
LIMITED = 25  # at least (25 - 5) / 5 = 4 s through the limit
FREE = 100
# Sent 0.2 s apart, requests may arrive closer when earlier ones were held up on the way (a
# busy event loop, two cores shared by three workers and PostgreSQL): the receiver's counts
# may be off by up to this much time. Without a limit the 25 arrive within ~0.1 s; at twice
# the limit, 25 within 2.4 s: both still fail the bound.
JITTER = 1.0


def _subscribe(dispatcher: Dispatcher, receiver: LoopbackReceiver) -> tuple[str, str]:
    integration = dispatcher.integrations.install("tenant-1", secret=SECRET)
    limited = dispatcher.integrations.subscribe(
        integration.id, "course/*", receiver.url("/limited"), rate_limit=RATE
    )
    free = dispatcher.integrations.subscribe(integration.id, "identity/*", receiver.url("/free"))
    return limited.id, free.id


def _emit(dispatcher: Dispatcher) -> None:
    for n in range(LIMITED):
        dispatcher.emit("course/completion/create", {"n": n}, tenant="tenant-1")
    for n in range(FREE):
        dispatcher.emit("identity/user/create", {"n": n}, tenant="tenant-1")


def _assert_within_the_limit(received: list[Received]) -> None:
    times = sorted(r.arrived_at for r in received if r.path == "/limited")
    burst = math.floor(RATE)
    for first in range(len(times)):
        for last in range(first, len(times)):
            window = times[last] - times[first]
            seen = last - first + 1
            assert seen <= burst + (window + JITTER) * RATE, (
                f"{seen} deliveries within {window:.3f} s at a {RATE}/s endpoint"
            )
    assert times[-1] - times[0] >= (LIMITED - burst) / RATE - JITTER


def _assert_the_free_endpoint_was_not_held_up(received: list[Received]) -> None:
    free = [r.arrived_at for r in received if r.path == "/free"]
    limited = [r.arrived_at for r in received if r.path == "/limited"]
    assert len(free) == FREE
    assert len(limited) == LIMITED
    # The limited backlog needs >= 4 s whatever the machine's speed; the free endpoint's
    # deliveries were all through before it.
    assert max(free) < max(limited)


def _assert_first_attempts_only(dispatcher: Dispatcher) -> None:
    deliveries = dispatcher.deliveries(limit=500).items
    assert len(deliveries) == LIMITED + FREE
    assert {d.status for d in deliveries} == {DeliveryStatus.DELIVERED}
    assert {d.attempts for d in deliveries} == {1}  # waiting used no attempt


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (0, "between 0.01 and 10,000"),
        (10_001, "between 0.01 and 10,000"),
        (float("nan"), "between 0.01 and 10,000"),
        ("5", "must be a number"),
        (True, "must be a number"),
    ],
)
def test_a_bad_rate_limit_is_refused_by_name_and_nothing_changes(
    given: object, problem: str
) -> None:
    dispatcher = Dispatcher(MemoryStore(), endpoint_policy=INSECURE)
    hooks = dispatcher.integrations
    integration = hooks.install("tenant-1", secret=SECRET)
    with pytest.raises(InvalidInput) as refused:
        hooks.subscribe(integration.id, "course/*", "http://127.0.0.1:9/", rate_limit=given)  # type: ignore[arg-type]
    assert list(refused.value.problems) == ["rate_limit"]
    assert problem in refused.value.problems["rate_limit"]
    assert hooks.subscriptions(integration.id) == []
    made = hooks.subscribe(integration.id, "course/*", "http://127.0.0.1:9/", rate_limit=2)
    with pytest.raises(InvalidInput, match="rate_limit"):
        hooks.update_subscription(made.id, rate_limit=given)  # type: ignore[arg-type]
    assert hooks.subscriptions(integration.id)[0].rate_limit == 2.0


def test_update_subscription_keeps_changes_or_lifts_the_limit() -> None:
    dispatcher = Dispatcher(MemoryStore(), endpoint_policy=INSECURE)
    hooks = dispatcher.integrations
    integration = hooks.install("tenant-1", secret=SECRET)
    made = hooks.subscribe(integration.id, "course/*", "http://127.0.0.1:9/", rate_limit=5)
    assert made.rate_limit == 5.0
    assert hooks.update_subscription(made.id, pattern="*").rate_limit == 5.0
    assert hooks.update_subscription(made.id, rate_limit=0.5).rate_limit == 0.5
    assert hooks.update_subscription(made.id, rate_limit=None).rate_limit is None


def test_one_worker_keeps_a_limited_endpoint_within_its_limit(store: Store) -> None:
    dispatcher = Dispatcher(store, endpoint_policy=INSECURE)
    with loopback_receiver(SECRET) as receiver:
        _subscribe(dispatcher, receiver)
        _emit(dispatcher)
        dispatcher.start_worker()
        try:
            wait_until(
                lambda: len(receiver.received) == LIMITED + FREE,
                timeout=120,
                what="every delivery",
            )
        finally:
            dispatcher.close()
        received = receiver.received
    assert all(r.verified for r in received)
    _assert_within_the_limit(received)
    _assert_the_free_endpoint_was_not_held_up(received)


@pytest.mark.services
def test_three_workers_on_postgresql_share_one_limit(postgres_url: str) -> None:
    from tests.stores import wipe

    stores = [SqlStore(postgres_url) for _ in range(3)]
    wipe(stores[0])
    dispatchers = [
        Dispatcher(store, endpoint_policy=INSECURE, settings=WorkerSettings(poll_interval=0.05))
        for store in stores
    ]
    try:
        with loopback_receiver(SECRET) as receiver:
            _subscribe(dispatchers[0], receiver)
            _emit(dispatchers[0])
            for dispatcher in dispatchers:
                dispatcher.start_worker()
            wait_until(
                lambda: len(receiver.received) == LIMITED + FREE,
                timeout=120,
                what="every delivery",
            )
            for dispatcher in dispatchers:
                dispatcher.close()
            received = receiver.received
        _assert_within_the_limit(received)
        _assert_the_free_endpoint_was_not_held_up(received)
        check = Dispatcher(SqlStore(postgres_url))
        try:
            _assert_first_attempts_only(check)
        finally:
            check.close()
    finally:
        for dispatcher in dispatchers:
            dispatcher.close()

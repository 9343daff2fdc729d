"""The library's main job end to end on the memory store, with a recording transport and a
fake clock: emit -> deliver -> retry -> give up -> notify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.capturing import CapturingNotifier
from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.adapters.transport.recording import RecordingTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.ids import id_time
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest, TransportResult
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.verification import verify
from acadio_webhooks.errors import (
    InvalidEndpoint,
    InvalidInput,
    InvalidPayload,
    PatternMatchesNothing,
    UnknownTopic,
)

SECRET = "whsec-0123456789abcdef"
GOOD = "https://good.example.com/hooks"
BAD = "https://bad.example.com/hooks"


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.store = MemoryStore()
        self.notifier = CapturingNotifier()
        self.status = {GOOD: 200, BAD: 500}
        self.transport = RecordingTransport(lambda request: self.status[request.url])
        self.dispatcher = Dispatcher(
            self.store,
            clock=self.clock,
            transport=self.transport,
            notifier=self.notifier,
            resolver=StaticResolver(
                {"good.example.com": ["93.184.216.34"], "bad.example.com": ["93.184.216.35"]}
            ),
        )
        self.integration = self.dispatcher.integrations.install(
            "tenant-1", secret=SECRET, notification_email="ops@example.com"
        )

    def subscribe(self, pattern: str, url: str) -> str:
        return self.dispatcher.integrations.subscribe(self.integration.id, pattern, url).id

    def run_until_settled(self, *, step: timedelta = timedelta(hours=1), rounds: int = 40) -> None:
        """Drain, move time past the longest retry wait, repeat: retries happen instantly."""
        for _ in range(rounds):
            self.dispatcher.drain()
            self.clock.advance(step)
        self.dispatcher.drain()


@pytest.fixture
def world() -> Iterator[World]:
    w = World()
    yield w
    w.dispatcher.close()


def test_an_event_reaches_each_matching_endpoint_signed(world: World) -> None:
    world.subscribe("course/*", GOOD)
    world.subscribe("identity/*", BAD)
    event_id = world.dispatcher.emit(
        "course/completion/create", {"course_id": 7}, tenant="tenant-1"
    )
    report = world.dispatcher.drain()
    assert report.delivered == 1
    [request] = world.transport.requests
    assert request.url == GOOD
    received = verify(request.body, dict(request.headers), SECRET, now=world.clock.now())
    assert received.id == event_id
    assert received.data == {"course_id": 7}
    assert received.tenant == "tenant-1"


def test_an_always_failing_endpoint_gets_exactly_seven_attempts_then_one_email(
    world: World,
) -> None:
    world.subscribe("course/completion/create", BAD)
    event_id = world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.run_until_settled()
    requests = world.transport.requests_to(BAD)
    assert len(requests) == 7
    assert {r.headers["webhook-id"] for r in requests} == {event_id}
    assert len({r.headers["webhook-timestamp"] for r in requests}) == 7  # re-signed each time
    [delivery] = world.dispatcher.deliveries(status="failed").items
    assert delivery.attempts == 7
    assert [a.number for a in world.dispatcher.attempts(delivery.id)] == list(range(1, 8))
    # One mail when the endpoint started failing (4th attempt, ~33 min in) and one when the
    # delivery was given up (~27 h in): never one per attempt.
    failing, failed = world.notifier.notices
    assert [n.kind.value for n in failing.notifications] == ["endpoint_failing"]
    assert [n.kind.value for n in failed.notifications] == ["delivery_failed"]
    assert failed.to == "ops@example.com"
    assert event_id in failed.text
    assert BAD in failed.text


def test_retries_follow_the_schedule(world: World) -> None:
    world.subscribe("course/completion/create", BAD)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    world.clock.advance(seconds=3)
    assert world.dispatcher.drain().attempts == 0  # the first retry waits 5 s ± 20 %
    world.clock.advance(seconds=4)
    assert world.dispatcher.drain().attempts == 1


def test_a_recovering_endpoint_is_delivered_on_a_retry(world: World) -> None:
    world.subscribe("course/completion/create", BAD)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    world.status[BAD] = 204
    world.clock.advance(minutes=1)
    world.dispatcher.drain()
    [delivery] = world.dispatcher.deliveries().items
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 2


def test_timeouts_and_connection_errors_are_failed_attempts(world: World) -> None:
    outcomes = iter(
        [
            TransportResult(None, 10.0, error_kind=ErrorKind.TIMEOUT, error="read timeout"),
            TransportResult(None, 0.0, error_kind=ErrorKind.CONNECT, error="refused"),
            TransportResult(200, 0.1),
        ]
    )
    world.transport = RecordingTransport(lambda _r: next(outcomes))
    world.dispatcher._transport = world.transport
    world.subscribe("course/completion/create", GOOD)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.run_until_settled(rounds=3)
    [delivery] = world.dispatcher.deliveries().items
    errors = [a.error for a in world.dispatcher.attempts(delivery.id)]
    assert errors == ["timeout: read timeout", "connect: refused", None]
    assert delivery.status is DeliveryStatus.DELIVERED


def test_deactivating_stops_pending_deliveries_at_once(world: World) -> None:
    world.subscribe("course/completion/create", BAD)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    world.dispatcher.integrations.deactivate(world.integration.id)
    world.run_until_settled(rounds=2)
    assert len(world.transport.requests) == 1
    [delivery] = world.dispatcher.deliveries().items
    assert delivery.status is DeliveryStatus.CANCELLED
    assert world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1") is not None
    world.dispatcher.drain()
    assert len(world.transport.requests) == 1  # nothing routes to an inactive integration


def test_410_gone_disables_the_subscription(world: World) -> None:
    sub = world.subscribe("course/*", BAD)
    world.status[BAD] = 410
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.emit("course/activity/update", {}, tenant="tenant-1")
    world.run_until_settled(rounds=2)
    subscription = world.store.get_subscription(sub)
    assert not subscription.active
    assert subscription.disabled_reason == "endpoint answered 410 Gone"
    assert len(world.transport.requests) <= 2
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    assert len(world.transport.requests) <= 2


def test_resend_sends_the_same_event_id_again(world: World) -> None:
    world.subscribe("course/completion/create", BAD)
    event_id = world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.run_until_settled()
    [failed] = world.dispatcher.deliveries(status="failed").items
    world.status[BAD] = 200
    fresh = world.dispatcher.resend(failed.id)
    world.dispatcher.drain()
    assert world.dispatcher.delivery(fresh.id).status is DeliveryStatus.DELIVERED
    assert world.transport.requests[-1].headers["webhook-id"] == event_id


def test_resend_failed_since_a_time(world: World) -> None:
    world.subscribe("course/completion/create", BAD)
    start = world.clock.now()
    for _ in range(3):
        world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.run_until_settled()
    world.status[BAD] = 200
    assert world.dispatcher.resend_failed(world.integration.id, since=start) == 3
    assert world.dispatcher.drain().delivered == 3


def test_activity_create_fires_at_most_once_a_day_per_key(world: World) -> None:
    world.subscribe("course/activity/create", GOOD)
    first = world.dispatcher.emit(
        "course/activity/create", {"a": 1}, tenant="tenant-1", dedup_key="student-1:act-9"
    )
    again = world.dispatcher.emit(
        "course/activity/create", {"a": 1}, tenant="tenant-1", dedup_key="student-1:act-9"
    )
    other = world.dispatcher.emit(
        "course/activity/create", {"a": 1}, tenant="tenant-1", dedup_key="student-2:act-9"
    )
    world.clock.advance(days=1)
    tomorrow = world.dispatcher.emit(
        "course/activity/create", {"a": 1}, tenant="tenant-1", dedup_key="student-1:act-9"
    )
    assert first is not None
    assert again is None
    assert other is not None
    assert tomorrow is not None
    assert world.dispatcher.drain().delivered == 3


def test_bad_emits_store_nothing(world: World) -> None:
    world.subscribe("course/*", GOOD)
    with pytest.raises(UnknownTopic):
        world.dispatcher.emit("course/nothing/here", {}, tenant="tenant-1")
    with pytest.raises(InvalidPayload, match="data\\['x'\\]"):
        world.dispatcher.emit("course/completion/create", {"x": float("nan")}, tenant="tenant-1")
    with pytest.raises(InvalidPayload, match="occurred_at must be a timezone-aware datetime"):
        world.dispatcher.emit(
            "course/completion/create",
            {},
            tenant="tenant-1",
            occurred_at=0,  # type: ignore[arg-type]
        )
    # An event id holds its milliseconds since 1970; a UTC moment past 9999 is no datetime.
    for unstorable in (
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone.utc),
        datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
    ):
        with pytest.raises(InvalidPayload, match="occurred_at must be from 1970-01-01"):
            world.dispatcher.emit(
                "course/completion/create", {}, tenant="tenant-1", occurred_at=unstorable
            )
    assert world.dispatcher.deliveries().items == ()


def test_events_at_the_edges_of_the_storable_range_are_stored(world: World) -> None:
    world.subscribe("course/*", GOOD)
    first = datetime(1970, 1, 1, tzinfo=timezone.utc)
    last = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=5)))
    for moment in (first, last):
        event_id = world.dispatcher.emit(
            "course/completion/create", {}, tenant="tenant-1", occurred_at=moment
        )
        assert event_id is not None
        assert id_time(event_id) == int(moment.timestamp() * 1000) / 1000
    # Each delivery is due when its event occurred: the first now, the last in year 9999.
    assert len(world.dispatcher.deliveries().items) == 2
    assert world.dispatcher.drain().delivered == 1


def test_subscription_validation(world: World) -> None:
    with pytest.raises(PatternMatchesNothing):
        world.subscribe("cource/*", GOOD)
    assert world.dispatcher.integrations.subscribe(
        world.integration.id, "lessons/*", GOOD, allow_future_topics=True
    )
    with pytest.raises(InvalidEndpoint, match="https"):
        world.subscribe("course/*", "http://good.example.com/hooks")
    with pytest.raises(InvalidEndpoint):
        world.subscribe("course/*", "https://127.0.0.1/hooks")


def test_install_errors_name_fields_but_never_echo_the_secret(world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        world.dispatcher.integrations.install("t", secret="tooshort-1", notification_email="nope")
    message = str(caught.value)
    assert "tooshort-1" not in message
    assert caught.value.problems["secret"] == "must be 16 to 256 characters, not 10"
    assert "notification_email" in caught.value.problems


def test_secret_rotation_signs_with_both_secrets_during_the_overlap(world: World) -> None:
    world.subscribe("course/completion/create", GOOD)
    new_secret = "whsec-fedcba9876543210"
    world.dispatcher.integrations.rotate_secret(world.integration.id, new_secret)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    world.clock.advance(hours=25)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    during, after = world.transport.requests
    now = world.clock.now()
    for secret in (SECRET, new_secret):
        verify(during.body, dict(during.headers), secret, now=now - timedelta(hours=25))
    verify(after.body, dict(after.headers), new_secret, now=now)
    with pytest.raises(Exception, match="signature"):
        verify(after.body, dict(after.headers), SECRET, now=now)


def test_metrics_count_attempts(world: World) -> None:
    world.subscribe("course/completion/create", GOOD)
    world.subscribe("course/*", BAD)
    world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()
    snapshot = world.dispatcher.metrics.snapshot()
    assert (snapshot.attempts, snapshot.delivered, snapshot.retried) == (2, 1, 1)


def test_endpoint_policy_allow_insecure_permits_loopback_http() -> None:
    dispatcher = Dispatcher(
        MemoryStore(),
        endpoint_policy=EndpointPolicy(allow_insecure=True),
        transport=RecordingTransport(),
    )
    integration = dispatcher.integrations.install("t", secret=SECRET)
    sub = dispatcher.integrations.subscribe(integration.id, "*", "http://127.0.0.1:9/x")
    assert sub.endpoint == "http://127.0.0.1:9/x"


def test_request_bodies_are_the_stored_event_bytes(world: World) -> None:
    world.subscribe("*", GOOD)
    event_id = world.dispatcher.emit("surveys/survey/complete", {"s": [1, 2]}, tenant="tenant-1")
    world.dispatcher.drain()
    [request] = world.transport.requests
    assert isinstance(request, OutboundRequest)
    assert event_id is not None
    assert request.body == world.dispatcher.event(event_id).payload
    assert json.loads(request.body)["topic"] == "surveys/survey/complete"


def test_several_deliveries_failing_in_one_batch_still_report_the_endpoint_failing(
    world: World,
) -> None:
    world.subscribe("course/completion/create", BAD)
    for _ in range(6):
        world.dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    world.dispatcher.drain()  # six failures in one claimed batch, all claimed at count 0
    world.clock.advance(minutes=20)
    world.dispatcher.drain()
    kinds = [n.kind.value for notice in world.notifier.notices for n in notice.notifications]
    assert kinds.count("endpoint_failing") == 1

"""The main job over real sockets: SQLite store, httpx transport, a loopback receiver that
verifies every signature, and a real SMTP server for the failure e-mail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from acadio_webhooks import TransportTimeouts
from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier
from acadio_webhooks.adapters.storage.sql import SqlStore
from acadio_webhooks.adapters.transport.httpx import AsyncHttpxTransport, HttpxTransport
from acadio_webhooks.dispatcher import Dispatcher
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retry import RetryPolicy
from acadio_webhooks.worker import SyncWorker, WorkerSettings
from tests.loopback import LoopbackReceiver, loopback_receiver, wait_until
from tests.mail import MailCollector, free_port, smtp_server

SECRET = "whsec-end-to-end-0123456789"
LOCAL = EndpointPolicy(allow_insecure=True)  # loopback receivers: tests only
FAST = DeliveryPolicy(
    retry=RetryPolicy(initial=0.05, factor=1.5, max_delay=0.2, jitter=0.0),
    failing_threshold=100,  # keep this suite's mail about the given-up delivery only
    breaker=None,  # the retry schedule alone (the circuit breaker has tests of its own)
)
SETTINGS = WorkerSettings(
    poll_interval=0.05,
    notify_interval=0.1,
    notice_window=timedelta(0),
    notice_grace=timedelta(0),
)


@pytest.fixture
def receiver() -> Iterator[LoopbackReceiver]:
    with loopback_receiver(SECRET) as running:
        yield running


@pytest.fixture
def mail() -> Iterator[tuple[MailCollector, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def dispatcher(tmp_path: Path, mail: tuple[MailCollector, int]) -> Iterator[Dispatcher]:
    _, port = mail
    running = Dispatcher(
        SqlStore(f"sqlite:///{tmp_path / 'webhooks.db'}"),
        endpoint_policy=LOCAL,
        policy=FAST,
        settings=SETTINGS,
        notifier=SmtpNotifier("127.0.0.1", port, sender="webhooks@lms.example"),
    )
    yield running
    running.close()


def install(dispatcher: Dispatcher, *routes: tuple[str, str]) -> str:
    integration = dispatcher.integrations.install(
        "tenant-1", secret=SECRET, notification_email="ops@school.example"
    )
    for pattern, url in routes:
        dispatcher.integrations.subscribe(integration.id, pattern, url)
    return integration.id


def settled(dispatcher: Dispatcher, count: int) -> bool:
    items = dispatcher.deliveries(limit=500).items
    return len(items) == count and all(d.status is not DeliveryStatus.PENDING for d in items)


def test_a_healthy_endpoint_receives_and_verifies_the_event(
    dispatcher: Dispatcher, receiver: LoopbackReceiver
) -> None:
    install(dispatcher, ("course/*", receiver.url("/ok")))
    dispatcher.start_worker()
    event_id = dispatcher.emit("course/completion/create", {"course_id": 7}, tenant="tenant-1")
    wait_until(lambda: settled(dispatcher, 1), timeout=20, what="the delivery")
    [got] = receiver.received
    assert got.verified
    assert (got.event_id, got.topic, got.data) == (
        event_id,
        "course/completion/create",
        {"course_id": 7},
    )
    [delivery] = dispatcher.deliveries().items
    assert delivery.status is DeliveryStatus.DELIVERED


def test_always_500_gets_exactly_seven_attempts_then_one_email(
    dispatcher: Dispatcher, receiver: LoopbackReceiver, mail: tuple[MailCollector, int]
) -> None:
    collector, _ = mail
    receiver.answers["/broken"] = (500, {})
    install(dispatcher, ("course/completion/create", receiver.url("/broken")))
    dispatcher.start_worker()
    event_id = dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    wait_until(lambda: settled(dispatcher, 1), timeout=30, what="the delivery to give up")
    wait_until(lambda: len(collector.received) >= 1, timeout=10, what="the failure e-mail")
    hits = [r for r in receiver.received if r.path == "/broken"]
    assert len(hits) == 7
    assert {r.event_id for r in hits} == {event_id}
    assert all(r.verified for r in hits)
    [delivery] = dispatcher.deliveries().items
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 7)
    [message] = collector.received
    assert message.rcpt_tos == ["ops@school.example"]
    body = message.message.get_content()
    assert event_id in body
    assert "7 attempts" in body


def test_redirects_are_never_followed(dispatcher: Dispatcher, receiver: LoopbackReceiver) -> None:
    receiver.answers["/moved"] = (302, {"Location": receiver.url("/elsewhere")})
    install(dispatcher, ("course/completion/create", receiver.url("/moved")))
    dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    dispatcher.drain()
    # One request, or a few on a slow machine: drain() also makes the retries that fall due
    # while it runs (0.05 s apart here). None of them may follow the redirect.
    paths = [r.path for r in receiver.received]
    assert paths
    assert set(paths) == {"/moved"}
    [delivery] = dispatcher.deliveries().items
    attempts = dispatcher.attempts(delivery.id)
    assert len(attempts) == len(paths)
    assert all(a.status_code == 302 and not a.succeeded for a in attempts)
    assert delivery.status is DeliveryStatus.PENDING  # failed attempts, retried later


def test_connection_refused_is_a_failed_attempt(dispatcher: Dispatcher) -> None:
    install(dispatcher, ("course/completion/create", f"http://127.0.0.1:{free_port()}/gone"))
    dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    dispatcher.drain()
    [delivery] = dispatcher.deliveries().items
    attempts = dispatcher.attempts(delivery.id)  # retries falling due during drain() too
    assert attempts
    assert all(a.status_code is None and (a.error or "").startswith("connect") for a in attempts)


def test_a_silent_endpoint_times_out(dispatcher: Dispatcher, receiver: LoopbackReceiver) -> None:
    receiver.hold = threading.Event()  # the receiver never answers until released
    install(dispatcher, ("course/completion/create", receiver.url("/silent")))
    transport = AsyncHttpxTransport(
        policy=LOCAL, timeouts=TransportTimeouts(connect=1.0, read=0.3, write=1.0, total=0.5)
    )
    dispatcher.start_worker(transport=transport)
    dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    wait_until(
        lambda: any(dispatcher.attempts(d.id) for d in dispatcher.deliveries().items),
        timeout=20,
        what="the first attempt",
    )
    [delivery] = dispatcher.deliveries().items
    first = dispatcher.attempts(delivery.id)[0]
    assert first.error is not None
    assert first.error.startswith("timeout")
    assert first.duration_ms < 5000
    receiver.hold.set()


def test_deactivation_mid_way_stops_the_retries(
    dispatcher: Dispatcher, receiver: LoopbackReceiver
) -> None:
    receiver.answers["/broken"] = (503, {})
    integration_id = install(dispatcher, ("course/completion/create", receiver.url("/broken")))
    dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    dispatcher.drain()
    # drain() may already have made a retry or two (they are due 0.05 s apart), so count
    # the requests made before the deactivation rather than assuming there was one.
    sent_before = len(receiver.received)
    assert sent_before >= 1
    dispatcher.integrations.deactivate(integration_id)
    dispatcher.start_worker()
    wait_until(lambda: settled(dispatcher, 1), timeout=10, what="the cancellation")
    assert len(receiver.received) == sent_before
    [delivery] = dispatcher.deliveries().items
    assert delivery.status is DeliveryStatus.CANCELLED


WORKER = textwrap.dedent(
    """
    import sys
    from datetime import timedelta
    from acadio_webhooks.adapters.storage.sql import SqlStore
    from acadio_webhooks.adapters.transport.httpx import HttpxTransport
    from acadio_webhooks.domain.endpoints import EndpointPolicy
    from acadio_webhooks.worker import SyncWorker, WorkerSettings

    store = SqlStore(sys.argv[1])
    transport = HttpxTransport(policy=EndpointPolicy(allow_insecure=True))
    settings = WorkerSettings(lease=timedelta(seconds=2), concurrency=1)
    SyncWorker(store, transport, settings=settings, owner="doomed").drain()
    """
)


def test_a_worker_killed_mid_attempt_loses_nothing(
    tmp_path: Path, receiver: LoopbackReceiver
) -> None:
    url = f"sqlite:///{tmp_path / 'webhooks.db'}"
    dispatcher = Dispatcher(SqlStore(url), endpoint_policy=LOCAL)
    install(dispatcher, ("course/completion/create", receiver.url("/slow")))
    event_id = dispatcher.emit("course/completion/create", {}, tenant="tenant-1")
    receiver.hold = threading.Event()
    doomed = subprocess.Popen(
        [sys.executable, "-c", WORKER, url],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert receiver.arrived.wait(30), "the doomed worker never made its attempt"
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    receiver.hold.set()
    receiver.hold = None
    [delivery] = dispatcher.deliveries().items
    assert delivery.status is DeliveryStatus.PENDING
    assert dispatcher.attempts(delivery.id) == []  # the killed attempt was never recorded

    # Before the lease runs out nobody else may take it; afterwards another worker does.
    survivor = SyncWorker(
        dispatcher.store,
        HttpxTransport(policy=LOCAL),
        settings=WorkerSettings(lease=timedelta(seconds=2)),
        owner="survivor",
    )
    wait_until(lambda: survivor.drain().delivered == 1, timeout=20, what="lease expiry")
    assert dispatcher.delivery(delivery.id).status is DeliveryStatus.DELIVERED
    seen = [r.event_id for r in receiver.received]
    assert seen.count(event_id) == 2  # at least once: the receiver de-duplicates on webhook-id
    dispatcher.close()

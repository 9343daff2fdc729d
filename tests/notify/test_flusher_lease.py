"""NotificationFlusher and its store lease: one flusher mails at a time, renews the lease
before each notice, and stops when a stall cost it the lease. Time moves on a fake clock;
the lease is a real MemoryStore's (see FakeNotificationStore)."""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from notify_support import FakeNotificationStore, failures, make_integration

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.capturing import CapturingNotifier
from acadio_webhooks.celery import CelerySettings
from acadio_webhooks.notify import DEFAULT_NOTICE_LEASE, NOTICE_LEASE, NotificationFlusher
from acadio_webhooks.ports.notifier import Notice
from acadio_webhooks.worker import WorkerSettings

LEASE = timedelta(minutes=5)


@pytest.fixture
def due(store: FakeNotificationStore, clock: FakeClock) -> FakeNotificationStore:
    """Three integrations, each with two notifications due now."""
    for name in ("int_a", "int_b", "int_c"):
        store.add_integration(make_integration(name, f"{name}@example.com"))
        store.queue(failures(name, 2))
    clock.advance(timedelta(minutes=2))
    return store


class SlowNotifier:
    """Accepts every notice, each taking ``takes`` on the fake clock; after each, a ``rival``
    flusher tries for the lease, as a second process polling the store would."""

    def __init__(
        self, store: FakeNotificationStore, clock: FakeClock, takes: timedelta, rival: str
    ) -> None:
        self.store, self.clock, self.takes, self.rival = store, clock, takes, rival
        self.notices: list[Notice] = []
        self.rival_won: list[bool] = []

    def send(self, notice: Notice) -> None:
        self.clock.advance(self.takes)
        self.notices.append(notice)
        won = self.store.acquire_lease(NOTICE_LEASE, self.rival, now=self.clock.now(), ttl=LEASE)
        self.rival_won.append(won)


class BrokenNotifier:
    def send(self, notice: Notice) -> None:
        raise KeyError("bug")


def test_while_another_flusher_holds_the_lease_a_flush_reads_nothing(
    due: FakeNotificationStore, clock: FakeClock
) -> None:
    assert due.acquire_lease(NOTICE_LEASE, "elsewhere", now=clock.now(), ttl=LEASE)
    notifier = CapturingNotifier()
    flusher = NotificationFlusher(due, notifier, clock=clock, lease=LEASE)

    assert flusher.flush() == 0
    assert due.reads == 0
    assert notifier.notices == []

    clock.advance(LEASE)  # the holder never renewed: it died
    assert flusher.flush() == 3
    assert due.unsent_ids() == set()


def test_the_lease_is_released_after_each_flush(
    due: FakeNotificationStore, clock: FakeClock
) -> None:
    first = NotificationFlusher(due, CapturingNotifier(fail_times=1), clock=clock)
    assert first.flush() == 2
    second = NotificationFlusher(due, CapturingNotifier(), clock=clock)
    assert second.flush() == 1  # at once: no lease left behind
    due.add_integration(make_integration("int_d"))
    due.queue(failures("int_d", 1))
    with pytest.raises(KeyError):
        NotificationFlusher(due, BrokenNotifier(), clock=clock).flush()
    assert due.acquire_lease(NOTICE_LEASE, "someone-else", now=clock.now(), ttl=LEASE)


def test_slow_sends_renew_the_lease_before_each_notice(
    due: FakeNotificationStore, clock: FakeClock
) -> None:
    # Each send takes 4 of the lease's 5 minutes: without renewal the rival would take the
    # lease after the second and mail the third notice too.
    notifier = SlowNotifier(due, clock, timedelta(minutes=4), rival="rival")
    assert NotificationFlusher(due, notifier, clock=clock, lease=LEASE).flush() == 3
    assert notifier.rival_won == [False, False, False]
    assert due.unsent_ids() == set()


def test_a_send_that_outlasts_the_lease_is_reported_and_the_lost_lease_stops_the_flush(
    due: FakeNotificationStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SlowNotifier(due, clock, timedelta(minutes=6), rival="rival")
    flusher = NotificationFlusher(due, notifier, clock=clock, lease=LEASE)
    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.notify"):
        assert flusher.flush() == 1

    [mailed] = notifier.notices
    assert notifier.rival_won == [True]
    # The accepted notice is recorded; the others are left to the rival.
    assert {n.integration_id for n in due.unsent_notifications()} == {"int_b", "int_c"}
    assert due.last_notice_at(mailed.integration_id) == clock.now()
    messages = [r.getMessage() for r in caplog.records]
    assert any("took 0:06:00, longer than" in m and "int_a" in m for m in messages)
    assert any(m.startswith(f"lost the {NOTICE_LEASE} lease") for m in messages)
    # The rival's lease survived the loser's release.
    assert not due.acquire_lease(NOTICE_LEASE, flusher.owner, now=clock.now(), ttl=LEASE)


def test_one_flusher_shared_by_threads_flushes_in_one_of_them_at_a_time(
    due: FakeNotificationStore, clock: FakeClock
) -> None:
    sending, finish = threading.Event(), threading.Event()

    class BlockingNotifier(CapturingNotifier):
        def send(self, notice: Notice) -> None:
            sending.set()
            assert finish.wait(timeout=30)
            super().send(notice)

    notifier = BlockingNotifier()
    flusher = NotificationFlusher(due, notifier, clock=clock)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(flusher.flush)
        assert sending.wait(timeout=30)
        # Same owner, so the store lease would let it in: the flusher itself must not.
        assert flusher.flush() == 0
        finish.set()
        assert first.result(timeout=30) == 3
    assert len(notifier.notices) == 3


def test_default_owners_are_distinct_and_name_the_process(
    store: FakeNotificationStore,
) -> None:
    first = NotificationFlusher(store, CapturingNotifier())
    second = NotificationFlusher(store, CapturingNotifier())
    assert first.owner != second.owner
    assert f":{os.getpid()}:" in first.owner
    assert first.lease == DEFAULT_NOTICE_LEASE
    assert NotificationFlusher(store, CapturingNotifier(), owner="lms-web-1").owner == "lms-web-1"


@pytest.mark.parametrize("settings", [WorkerSettings, CelerySettings])
def test_worker_and_celery_settings_refuse_a_notice_lease_or_interval_that_is_not_positive(
    settings: type[WorkerSettings] | type[CelerySettings],
) -> None:
    # A zero interval would flush in a busy loop, hammering the store.
    assert settings().notice_lease == DEFAULT_NOTICE_LEASE
    with pytest.raises(ValueError, match="notice_lease"):
        settings(notice_lease=timedelta(0))
    with pytest.raises(ValueError, match="notify_interval"):
        settings(notify_interval=0)

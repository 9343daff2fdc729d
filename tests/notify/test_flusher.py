"""NotificationFlusher: what is mailed, when, and what survives a failing notifier."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from notify_support import FakeNotificationStore, failures, make_integration

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.capturing import CapturingNotifier
from acadio_webhooks.domain.models import Integration
from acadio_webhooks.notify import NotificationFlusher
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.ports.notifier import Notice


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def test_nothing_queued_sends_nothing(store: FakeNotificationStore, clock: FakeClock) -> None:
    notifier = CapturingNotifier()
    assert NotificationFlusher(store, notifier, clock=clock).flush() == 0
    assert notifier.notices == []


def test_a_burst_waits_out_the_grace_period_then_goes_in_one_notice(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a", "ops@example.com"))
    store.queue(failures("int_a", 3, every=timedelta(seconds=10)))
    notifier = CapturingNotifier()
    flusher = NotificationFlusher(store, notifier, clock=clock)

    clock.advance(timedelta(seconds=40))
    assert flusher.flush() == 0
    clock.advance(timedelta(seconds=20))
    assert flusher.flush() == 1

    [notice] = notifier.notices
    assert notice.to == "ops@example.com"
    assert notice.integration_id == "int_a"
    assert len(notice.notifications) == 3
    assert store.unsent_ids() == set()
    assert store.last_notice_at("int_a") == clock.now()


def test_the_window_and_grace_are_configurable(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a"))
    notifier = CapturingNotifier()
    flusher = NotificationFlusher(
        store, notifier, clock=clock, window=minutes(5), grace=timedelta(0)
    )
    store.queue(failures("int_a", 1, start=clock.now(), prefix="a"))
    assert flusher.flush() == 1
    clock.advance(minutes(4))
    store.queue(failures("int_a", 1, start=clock.now(), prefix="b"))
    assert flusher.flush() == 0
    clock.advance(minutes(1))
    assert flusher.flush() == 1


def test_composition_settings_reach_the_notice(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a"))
    store.queue(failures("int_a", 2))
    notifier = CapturingNotifier()
    flusher = NotificationFlusher(
        store,
        notifier,
        clock=clock,
        product_name="Campus",
        portal_url="https://lms.example.com/admin/webhooks",
        max_attempts=4,
    )
    clock.advance(minutes(1))
    flusher.flush()
    [notice] = notifier.notices
    assert notice.subject == "Campus webhooks: 2 deliveries failed"
    text = " ".join(notice.text.split())
    assert "https://lms.example.com/admin/webhooks" in text
    assert "failed for good after 4 attempts" in text


def test_each_integration_gets_its_own_notice_at_its_own_address(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a", "a@example.com"))
    store.add_integration(make_integration("int_b", "b@example.com"))
    store.queue(failures("int_a", 2))
    store.queue(failures("int_b", 4, start=clock.now() + timedelta(seconds=1)))
    notifier = CapturingNotifier()

    clock.advance(minutes(2))
    assert NotificationFlusher(store, notifier, clock=clock).flush() == 2

    assert [(n.to, len(n.notifications)) for n in notifier.notices] == [
        ("a@example.com", 2),
        ("b@example.com", 4),
    ]


@pytest.mark.parametrize(
    ("integration", "reason"),
    [
        (make_integration("int_a", None), "the integration has no notification e-mail address"),
        (make_integration("int_a", active=False), "the integration is deactivated"),
        (None, "the integration no longer exists"),
    ],
    ids=["no address", "deactivated", "deleted"],
)
def test_notifications_with_nowhere_to_go_are_dropped_and_logged(
    store: FakeNotificationStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    integration: Integration | None,
    reason: str,
) -> None:
    if integration is not None:
        store.add_integration(integration)
    store.queue(failures("int_a", 3))
    notifier = CapturingNotifier()
    clock.advance(minutes(1))

    with caplog.at_level(logging.INFO, logger="acadio_webhooks.notify"):
        assert NotificationFlusher(store, notifier, clock=clock).flush() == 0

    assert notifier.notices == []
    assert store.unsent_ids() == set()  # dropped, so they do not pile up
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert record.getMessage() == f"dropped 3 failure notifications of integration int_a: {reason}"
    assert record.integration_id == "int_a"  # type: ignore[attr-defined]


def test_a_refused_notice_stays_queued_and_goes_out_at_the_next_flush(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a"))
    queued = failures("int_a", 3)
    store.queue(queued)
    notifier = CapturingNotifier(fail_times=2)
    metrics = DeliveryMetrics()
    flusher = NotificationFlusher(store, notifier, clock=clock, metrics=metrics)
    clock.advance(minutes(1))

    assert flusher.flush() == 0
    clock.advance(timedelta(seconds=30))
    assert flusher.flush() == 0
    assert store.unsent_ids() == {n.id for n in queued}
    assert store.last_notice_at("int_a") is None  # a refusal does not start the window

    clock.advance(timedelta(seconds=30))
    assert flusher.flush() == 1
    [notice] = notifier.notices
    assert {n.id for n in notice.notifications} == {n.id for n in queued}
    assert store.unsent_ids() == set()
    counted = metrics.snapshot()
    assert (counted.notices_sent, counted.notices_failed) == (1, 2)


def test_one_integrations_failure_does_not_stop_the_others(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a", "a@example.com"))
    store.add_integration(make_integration("int_b", "b@example.com"))
    store.queue(failures("int_a", 2))  # oldest: mailed first, and refused
    store.queue(failures("int_b", 2, start=clock.now() + timedelta(seconds=5)))
    notifier = CapturingNotifier(fail_times=1)
    clock.advance(minutes(2))

    assert NotificationFlusher(store, notifier, clock=clock).flush() == 1

    assert [n.integration_id for n in notifier.refused] == ["int_a"]
    assert [n.integration_id for n in notifier.notices] == ["int_b"]
    assert {n.integration_id for n in store.unsent_notifications()} == {"int_a"}


def test_a_notifier_bug_is_not_mistaken_for_an_outage(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    class BrokenNotifier:
        def send(self, notice: Notice) -> None:
            raise KeyError("bug")

    store.add_integration(make_integration("int_a"))
    store.queue(failures("int_a", 1))
    clock.advance(minutes(1))
    with pytest.raises(KeyError):
        NotificationFlusher(store, BrokenNotifier(), clock=clock).flush()
    assert len(store.unsent_ids()) == 1


def test_one_flush_reads_at_most_batch_limit_notifications(
    store: FakeNotificationStore, clock: FakeClock
) -> None:
    store.add_integration(make_integration("int_a"))
    store.queue(failures("int_a", 30))
    notifier = CapturingNotifier()
    clock.advance(minutes(1))
    NotificationFlusher(store, notifier, clock=clock, batch_limit=10).flush()
    [notice] = notifier.notices
    assert len(notice.notifications) == 10
    assert len(store.unsent_ids()) == 20


@pytest.mark.parametrize(
    "options",
    [
        {"window": -minutes(1)},
        {"grace": -minutes(1)},
        {"batch_limit": 0},
        {"lease": timedelta(0)},
        {"owner": ""},
        {"owner": "o" * 256},
    ],
)
def test_bad_settings_are_refused(store: FakeNotificationStore, options: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        NotificationFlusher(store, CapturingNotifier(), **options)  # type: ignore[arg-type]

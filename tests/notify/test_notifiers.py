"""The logging and capturing notifiers."""

from __future__ import annotations

import logging
import threading

import pytest
from notify_support import failures

from acadio_webhooks.adapters.notifier import CapturingNotifier, LoggingNotifier
from acadio_webhooks.domain.messages import NotificationKind
from acadio_webhooks.domain.notices import compose_notice
from acadio_webhooks.errors import NotificationError
from acadio_webhooks.ports.notifier import Notice, Notifier


def a_notice(integration_id: str = "int_a") -> Notice:
    return compose_notice(integration_id, "ops@example.com", failures(integration_id, 2))


def test_logging_notifier_logs_the_notice_with_structured_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notice = a_notice()
    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.notices"):
        LoggingNotifier().send(notice)

    [record] = caplog.records
    assert record.name == "acadio_webhooks.notices"
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert message.startswith(
        "webhook failure notice for integration int_a to ops@example.com: "
        "Acadio webhooks: 2 deliveries failed\n"
    )
    assert message.endswith(notice.text)
    fields = record.__dict__
    assert fields["integration_id"] == "int_a"
    assert fields["notice_to"] == "ops@example.com"
    assert fields["notice_subject"] == notice.subject
    assert fields["notification_count"] == 2
    assert fields["notification_kinds"] == [NotificationKind.DELIVERY_FAILED.value]
    assert fields["notification_ids"] == [n.id for n in notice.notifications]


def test_logging_notifier_uses_the_given_logger_and_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("lms.alerts")
    notifier = LoggingNotifier(logger, level=logging.ERROR)
    with caplog.at_level(logging.ERROR, logger="lms.alerts"):
        notifier.send(a_notice())
    [record] = caplog.records
    assert (record.name, record.levelno) == ("lms.alerts", logging.ERROR)
    assert repr(notifier) == "LoggingNotifier(logger='lms.alerts', level=ERROR)"


def test_notifiers_satisfy_the_port() -> None:
    assert isinstance(LoggingNotifier(), Notifier)
    assert isinstance(CapturingNotifier(), Notifier)


def test_capturing_notifier_records_in_order() -> None:
    notifier = CapturingNotifier()
    first, second = a_notice("int_a"), a_notice("int_b")
    notifier.send(first)
    notifier.send(second)
    assert notifier.notices == [first, second]
    assert notifier.refused == []


def test_capturing_notifier_simulates_an_outage() -> None:
    notifier = CapturingNotifier(fail_times=2)
    notice = a_notice()
    for _ in range(2):
        with pytest.raises(NotificationError, match="int_a"):
            notifier.send(notice)
    notifier.send(notice)
    assert notifier.notices == [notice]
    assert notifier.refused == [notice, notice]
    assert notifier.failures_left == 0

    notifier.clear()
    assert notifier.notices == notifier.refused == []
    with pytest.raises(ValueError, match="fail_times"):
        CapturingNotifier(fail_times=-1)


def test_capturing_notifier_is_safe_across_threads() -> None:
    notifier = CapturingNotifier(fail_times=50)
    notice = a_notice()

    def send_many() -> None:
        for _ in range(100):
            try:
                notifier.send(notice)
            except NotificationError:
                pass

    threads = [threading.Thread(target=send_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(notifier.refused) == 50
    assert len(notifier.notices) == 350

"""SmtpNotifier and NotificationFlusher against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from notify_support import (
    SMTP_PASSWORD,
    SMTP_USER,
    FakeNotificationStore,
    SelfSignedCertificate,
    failures,
    make_integration,
)

from acadio_webhooks.adapters.clock import FakeClock
from acadio_webhooks.adapters.notifier.smtp import SmtpNotifier
from acadio_webhooks.domain.notices import compose_notice
from acadio_webhooks.errors import NotificationError
from acadio_webhooks.notify import NotificationFlusher
from acadio_webhooks.ports.notifier import Notice, Notifier
from tests.mail import MailCollector, free_port

StartSmtp = Callable[..., tuple[MailCollector, int]]
SENDER = "Acadio <webhooks@acadio.example.com>"


def wire_text(message: EmailMessage) -> str:
    """The body as sent, with SMTP's CRLF line ends back to the notice's LF."""
    content: str = message.get_content()
    return content.replace("\r\n", "\n")


def a_notice(to: str = "ops@example.com") -> Notice:
    return compose_notice("int_a", to, failures("int_a", 3))


def test_the_mail_arrives_as_composed(start_smtp: StartSmtp) -> None:
    mailbox, port = start_smtp()
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER)
    notice = a_notice()

    notifier.send(notice)

    [mail] = mailbox.received
    assert mail.mail_from == "webhooks@acadio.example.com"
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == "ops@example.com"
    assert mail.message["Subject"] == "Acadio webhooks: 3 deliveries failed"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Date"] is not None
    assert mail.message["Message-ID"].endswith("@acadio.example.com>")
    assert mail.message.get_content_type() == "text/plain"
    assert wire_text(mail.message) == notice.text


def test_non_ascii_text_survives(start_smtp: StartSmtp) -> None:
    mailbox, port = start_smtp()
    notice = compose_notice(
        "int_a", "ops@example.com", failures("int_a", 1), product_name="Académie"
    )
    SmtpNotifier("127.0.0.1", port, sender=SENDER).send(notice)
    [mail] = mailbox.received
    assert mail.message["Subject"] == "Académie webhooks: 1 delivery failed"
    assert wire_text(mail.message) == notice.text


def test_satisfies_the_notifier_port() -> None:
    assert isinstance(SmtpNotifier("127.0.0.1", sender=SENDER), Notifier)


# -- TLS and login ------------------------------------------------------------------------------


def test_starttls_with_login(start_smtp: StartSmtp, certificate: SelfSignedCertificate) -> None:
    mailbox, port = start_smtp(
        tls_context=certificate.server_context(), require_starttls=True, auth=True
    )
    notifier = SmtpNotifier(
        "127.0.0.1",
        port,
        sender=SENDER,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        security="starttls",
        ssl_context=certificate.client_context(),
    )
    notifier.send(a_notice())
    assert len(mailbox.received) == 1


def test_implicit_tls(start_smtp: StartSmtp, certificate: SelfSignedCertificate) -> None:
    mailbox, port = start_smtp(ssl_context=certificate.server_context())
    notifier = SmtpNotifier(
        "127.0.0.1", port, sender=SENDER, security="ssl", ssl_context=certificate.client_context()
    )
    notifier.send(a_notice())
    assert len(mailbox.received) == 1


def test_an_untrusted_certificate_is_refused(
    start_smtp: StartSmtp, certificate: SelfSignedCertificate
) -> None:
    mailbox, port = start_smtp(tls_context=certificate.server_context())
    # Default context: the system's CAs, which do not include the self-signed certificate.
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER, security="starttls")
    with pytest.raises(NotificationError) as caught:
        notifier.send(a_notice())
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    assert mailbox.received == []


def test_starttls_is_never_downgraded_to_clear_text(start_smtp: StartSmtp) -> None:
    mailbox, port = start_smtp()  # offers no STARTTLS
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER, security="starttls")
    with pytest.raises(NotificationError) as caught:
        notifier.send(a_notice())
    assert isinstance(caught.value.__cause__, smtplib.SMTPNotSupportedError)
    assert mailbox.received == []


def test_wrong_password_is_a_notification_error_without_the_password(
    start_smtp: StartSmtp, certificate: SelfSignedCertificate
) -> None:
    mailbox, port = start_smtp(tls_context=certificate.server_context(), auth=True)
    wrong = "not-the-password-1234"
    notifier = SmtpNotifier(
        "127.0.0.1",
        port,
        sender=SENDER,
        username=SMTP_USER,
        password=wrong,
        security="starttls",
        ssl_context=certificate.client_context(),
    )
    with pytest.raises(NotificationError) as caught:
        notifier.send(a_notice())
    assert isinstance(caught.value.__cause__, smtplib.SMTPAuthenticationError)
    assert wrong not in str(caught.value)
    assert mailbox.received == []


def test_the_password_stays_out_of_repr() -> None:
    notifier = SmtpNotifier(
        "smtp.example.com",
        587,
        sender=SENDER,
        username="mailer",
        password="hunter2-but-longer",
        security="starttls",
    )
    assert "hunter2" not in repr(notifier)
    assert "username='mailer'" in repr(notifier)


# -- failures -----------------------------------------------------------------------------------


def test_server_down_is_a_notification_error() -> None:
    notifier = SmtpNotifier("127.0.0.1", free_port(), sender=SENDER, timeout=5)
    with pytest.raises(NotificationError, match=r"127\.0\.0\.1") as caught:
        notifier.send(a_notice())
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections but never says hello."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield listener.getsockname()[1]


def test_a_server_that_never_answers_times_out(silent_server: int) -> None:
    notifier = SmtpNotifier("127.0.0.1", silent_server, sender=SENDER, timeout=0.2)
    with pytest.raises(NotificationError) as caught:
        notifier.send(a_notice())
    # smtplib reports the socket timeout as a disconnection caused by it.
    assert isinstance(caught.value.__cause__, smtplib.SMTPServerDisconnected)
    assert isinstance(caught.value.__cause__.__context__, TimeoutError)


def test_a_refused_recipient_is_a_notification_error(start_smtp: StartSmtp) -> None:
    mailbox, port = start_smtp()
    mailbox.refuse.add("gone@example.com")
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER)
    with pytest.raises(NotificationError) as caught:
        notifier.send(a_notice(to="gone@example.com"))
    assert isinstance(caught.value.__cause__, smtplib.SMTPRecipientsRefused)
    assert mailbox.received == []


def test_a_notice_that_reaches_some_recipients_counts_as_sent(
    start_smtp: StartSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, port = start_smtp()
    mailbox.refuse.add("gone@example.com")
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER)
    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.notices.smtp"):
        # Raising would re-send it to ops@ at every flush.
        notifier.send(a_notice(to="ops@example.com, gone@example.com"))
    [mail] = mailbox.received
    assert mail.rcpt_tos == ["ops@example.com"]
    [record] = caplog.records
    assert "refused gone@example.com" in record.getMessage()


def test_a_hang_up_after_the_message_was_accepted_is_not_a_failure(
    start_smtp: StartSmtp,
) -> None:
    mailbox, port = start_smtp()
    mailbox.hang_up_after_data = True
    # Reporting a failure here would mail the same notice again at the next flush.
    SmtpNotifier("127.0.0.1", port, sender=SENDER).send(a_notice())
    assert len(mailbox.received) == 1


def test_a_header_injection_is_refused_before_connecting() -> None:
    notifier = SmtpNotifier("127.0.0.1", free_port(), sender=SENDER)
    with pytest.raises(NotificationError, match="cannot build") as caught:
        notifier.send(a_notice(to="ops@example.com\r\nBcc: everyone@example.com"))
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"security": "tls"}, "security must be one of"),
        ({"username": "mailer"}, "both username and password"),
        ({"username": "mailer", "password": "pw-pw-pw-pw"}, "clear text"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_misconfiguration_is_refused_at_construction(
    options: dict[str, object], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        SmtpNotifier("127.0.0.1", sender=SENDER, **options)  # type: ignore[arg-type]


def test_sender_must_be_an_address() -> None:
    with pytest.raises(ValueError, match="sender"):
        SmtpNotifier("127.0.0.1", sender="")


# -- the flusher, end to end --------------------------------------------------------------------


def test_a_thousand_failures_make_one_mail_per_window(
    start_smtp: StartSmtp, store: FakeNotificationStore, clock: FakeClock
) -> None:
    mailbox, port = start_smtp()
    store.add_integration(make_integration("int_a", "ops@example.com"))
    store.queue(failures("int_a", 1000))
    flusher = NotificationFlusher(
        store, SmtpNotifier("127.0.0.1", port, sender=SENDER), clock=clock
    )

    clock.advance(timedelta(minutes=1))
    assert flusher.flush() == 1
    # More failures keep coming during the window: nothing more is mailed until it ends.
    for minute in range(1, 15):
        store.queue(failures("int_a", 50, start=clock.now(), prefix=f"m{minute}-"))
        clock.advance(timedelta(minutes=1))
        assert flusher.flush() == 0

    [mail] = mailbox.received
    assert mail.rcpt_tos == ["ops@example.com"]
    assert mail.message["Subject"] == "Acadio webhooks: 1000 deliveries failed"
    assert "and 990 more" in mail.message.get_content()
    assert len(store.unsent_ids()) == 14 * 50

    clock.advance(timedelta(minutes=1))  # a full window after the first mail
    assert flusher.flush() == 1
    assert mailbox.received[1].message["Subject"] == "Acadio webhooks: 700 deliveries failed"
    assert store.unsent_ids() == set()


def test_mail_server_down_then_up_loses_nothing(
    start_smtp: StartSmtp, store: FakeNotificationStore, clock: FakeClock
) -> None:
    port = free_port()  # nothing listens yet
    store.add_integration(make_integration("int_a", "ops@example.com"))
    queued = failures("int_a", 5)
    store.queue(queued)
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER, timeout=5)
    flusher = NotificationFlusher(store, notifier, clock=clock)

    clock.advance(timedelta(minutes=2))
    assert flusher.flush() == 0
    assert store.unsent_ids() == {n.id for n in queued}

    mailbox, _ = start_smtp(port)  # the server comes back on the same port
    clock.advance(timedelta(seconds=30))
    assert flusher.flush() == 1
    [mail] = mailbox.received
    assert mail.message["Subject"] == "Acadio webhooks: 5 deliveries failed"
    assert "evt_00000, evt_00001, evt_00002, evt_00003, evt_00004" in mail.message.get_content()
    assert store.unsent_ids() == set()


def test_a_failed_send_is_logged_without_secrets(
    store: FakeNotificationStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    store.add_integration(make_integration("int_a", "ops@example.com"))
    store.queue(failures("int_a", 2))
    notifier = SmtpNotifier(
        "127.0.0.1",
        free_port(),
        sender=SENDER,
        username=SMTP_USER,
        password=SMTP_PASSWORD,
        security="starttls",
        timeout=5,
    )
    flusher = NotificationFlusher(store, notifier, clock=clock)
    clock.advance(timedelta(minutes=2))

    with caplog.at_level(logging.WARNING, logger="acadio_webhooks.notify"):
        assert flusher.flush() == 0

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "integration int_a (2 notifications)" in record.getMessage()
    assert "retrying at the next flush" in record.getMessage()
    assert SMTP_PASSWORD not in caplog.text

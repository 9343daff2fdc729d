"""The SMTP notifier: e-mails each notice through a mail server, with the standard library only."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Literal

from acadio_webhooks.errors import NotificationError
from acadio_webhooks.ports.notifier import Notice

__all__ = ["SmtpNotifier", "SmtpSecurity"]

SmtpSecurity = Literal["none", "starttls", "ssl"]
_SECURITY_MODES: tuple[SmtpSecurity, ...] = ("none", "starttls", "ssl")
_log = logging.getLogger("acadio_webhooks.notices.smtp")


class SmtpNotifier:
    """Sends each :class:`~acadio_webhooks.domain.messages.Notice` as a plain-text e-mail.

    ``security`` chooses how the connection is protected:

    * ``"none"``: plain SMTP, for a relay on the same host or private network (port 25);
    * ``"starttls"``: upgrade with STARTTLS before anything else is said (usually port 587);
      a server that does not offer STARTTLS is refused rather than spoken to in clear;
    * ``"ssl"``: TLS from the first byte (SMTPS, usually port 465).

    TLS verifies the server's certificate and host name with ``ssl_context`` (default:
    :func:`ssl.create_default_context`). ``username`` and ``password`` log in after TLS; they
    are refused with ``security="none"``, where they would cross the network in clear. The
    password never appears in ``repr``, logs or error messages.

    Each notice opens one connection (notices are rare: at most one per integration per
    batching window). Every failure (connection refused, timeout, TLS, authentication, a
    refused sender, every recipient refused) raises
    :class:`~acadio_webhooks.errors.NotificationError` with the original exception as
    ``__cause__``; the flusher then keeps the notifications queued for the next flush. When a
    notice addressed to several recipients reaches some of them, it counts as sent and the
    refused ones are logged as a warning (``acadio_webhooks.notices.smtp``).
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        security: SmtpSecurity = "none",
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if security not in _SECURITY_MODES:
            raise ValueError(f"security must be one of {_SECURITY_MODES}, not {security!r}")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if username is not None and security == "none":
            raise ValueError(
                "SMTP login needs security='starttls' or 'ssl': with 'none' the password "
                "would cross the network in clear text"
            )
        if not parseaddr(sender)[1]:
            raise ValueError(f"sender {sender!r} is not an e-mail address")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self._password = password
        self.security: SmtpSecurity = security
        self.timeout = timeout
        self._ssl_context = ssl_context

    def send(self, notice: Notice) -> None:
        """Hand the notice to the mail server, or raise ``NotificationError``."""
        where = f"for integration {notice.integration_id} via {self.host}:{self.port}"
        try:
            message = self._message(notice)
        except ValueError as exc:  # a header with a line break or an unparsable address
            raise NotificationError(f"cannot build the notice e-mail {where}: {exc}") from exc
        try:
            refused = self._deliver(message)
        except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, timeout, TLS
            raise NotificationError(
                f"could not send the notice e-mail {where}: {type(exc).__name__}: {exc}"
            ) from exc
        if refused:
            # Some recipients took it: raising would re-send it to them at every flush.
            _log.warning(
                "the notice e-mail %s reached some recipients; the mail server refused %s",
                where,
                ", ".join(sorted(refused)),
                extra={"integration_id": notice.integration_id},
            )

    def _message(self, notice: Notice) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = notice.to
        message["Subject"] = notice.subject
        message["Date"] = formatdate(usegmt=True)
        # An explicit domain keeps make_msgid from resolving this machine's FQDN.
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"
        message["Message-ID"] = make_msgid("acadio-webhooks", domain=domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
        message.set_content(notice.text)
        return message

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        client = self._connect()
        try:
            if self.security == "starttls":
                client.starttls(context=self._context())
            if self.username is not None and self._password is not None:
                client.login(self.username, self._password)
            refused = client.send_message(message)
        except BaseException:
            client.close()
            raise
        # The message is accepted: a failed goodbye must not make it look unsent.
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
        return refused

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def __repr__(self) -> str:
        login = f", username={self.username!r}" if self.username is not None else ""
        return (
            f"SmtpNotifier(host={self.host!r}, port={self.port}, security={self.security!r}, "
            f"sender={self.sender!r}{login})"
        )

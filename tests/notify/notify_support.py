"""Helpers for the notification tests: a real SMTP server on loopback, a fake clock, and a
test-local stand-in for the store's notification methods. Fixtures are in conftest.py."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult

from acadio_webhooks.adapters.storage.memory import MemoryStore
from acadio_webhooks.domain.messages import Notification, NotificationKind
from acadio_webhooks.domain.models import Integration, SigningSecret
from acadio_webhooks.errors import NotFound

T0 = datetime(2026, 3, 3, 12, 0, tzinfo=timezone.utc)
SMTP_USER = "acadio-mailer"
SMTP_PASSWORD = "correct-horse-battery-staple"


# -- a real SMTP server --------------------------------------------------------------------------


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    ok = auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@dataclass(frozen=True)
class SelfSignedCertificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Verifies the server against this certificate, host name included."""
        return ssl.create_default_context(cafile=str(self.cert))


# -- time and the store ------------------------------------------------------------------------


class FakeNotificationStore:
    """Just the store methods NotificationFlusher calls, with a ``queue`` to put
    notifications in directly. The real stores only queue them from ``settle()``; these unit
    tests of the batching need arbitrary timelines, and the end-to-end path through
    ``MemoryStore``/``SqlStore`` is covered in ``tests/delivery``. The flusher's lease is a
    real ``MemoryStore``'s."""

    def __init__(self) -> None:
        self.leases = MemoryStore()
        self.acquire_lease = self.leases.acquire_lease
        self.release_lease = self.leases.release_lease
        self.integrations: dict[str, Integration] = {}
        self.notifications: dict[str, Notification] = {}
        self.sent_at: dict[str, datetime] = {}
        self.last_notice: dict[str, datetime] = {}
        self.reads = 0
        """How many times the flusher read the queue."""

    def add_integration(self, integration: Integration) -> None:
        self.integrations[integration.id] = integration

    def queue(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            self.notifications[notification.id] = notification

    def get_integration(self, integration_id: str) -> Integration:
        try:
            return self.integrations[integration_id]
        except KeyError:
            raise NotFound("integration", integration_id) from None

    def unsent_notifications(self, limit: int = 1000) -> list[Notification]:
        self.reads += 1
        unsent = [n for n in self.notifications.values() if n.id not in self.sent_at]
        return sorted(unsent, key=lambda n: (n.created_at, n.id))[:limit]

    def mark_notifications_sent(self, notification_ids: Sequence[str], *, now: datetime) -> None:
        for notification_id in notification_ids:
            self.sent_at[notification_id] = now
            integration_id = self.notifications[notification_id].integration_id
            self.last_notice[integration_id] = now

    def last_notice_at(self, integration_id: str) -> datetime | None:
        return self.last_notice.get(integration_id)

    def unsent_ids(self) -> set[str]:
        return {n.id for n in self.notifications.values() if n.id not in self.sent_at}


def make_integration(
    integration_id: str, email_address: str | None = "ops@example.com", *, active: bool = True
) -> Integration:
    return Integration(
        id=integration_id,
        tenant="tenant-1",
        secrets=(SigningSecret(value="s" * 32),),
        notification_email=email_address,
        active=active,
    )


def failures(
    integration_id: str,
    count: int,
    *,
    start: datetime = T0,
    every: timedelta = timedelta(milliseconds=10),
    prefix: str = "",
) -> list[Notification]:
    """``count`` DELIVERY_FAILED notifications of one endpoint, ``every`` apart."""
    return [
        Notification(
            id=f"ntf_{prefix}{integration_id}_{i:05d}",
            integration_id=integration_id,
            kind=NotificationKind.DELIVERY_FAILED,
            subscription_id=f"sub_{integration_id}",
            endpoint=f"https://{integration_id}.example.com/webhooks",
            created_at=start + i * every,
            topic="course/completion/create",
            event_id=f"evt_{prefix}{i:05d}",
            delivery_id=f"dlv_{prefix}{i:05d}",
            detail="HTTP 503",
        )
        for i in range(count)
    ]

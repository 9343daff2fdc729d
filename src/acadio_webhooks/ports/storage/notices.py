"""The notice queue role: failure notifications waiting to be mailed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.messages import Notification

__all__ = ["NoticeQueue"]


@runtime_checkable
class NoticeQueue(Protocol):
    """Notifications queued by :meth:`DeliveryQueue.settle
    <acadio_webhooks.ports.storage.queue.DeliveryQueue.settle>`, as the notice flusher
    (:mod:`acadio_webhooks.notify`) reads and marks them."""

    def unsent_notifications(self, limit: int = 1000) -> list[Notification]:
        """Queued notifications not yet sent, oldest first."""
        ...

    def mark_notifications_sent(self, notification_ids: Sequence[str], *, now: datetime) -> None:
        """Record that these notifications went out in a notice at ``now``."""
        ...

    def last_notice_at(self, integration_id: str) -> datetime | None:
        """When the integration was last sent a notice, for rate limiting."""
        ...

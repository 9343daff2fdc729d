"""The notifier port: how an integration's notification address hears about failures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.messages import Notification

__all__ = ["Notice", "Notifier"]


@dataclass(frozen=True)
class Notice:
    """One e-mail: a digest of an integration's notifications since the last one."""

    to: str
    subject: str
    text: str
    integration_id: str
    notifications: tuple[Notification, ...] = field(default=(), repr=False)


@runtime_checkable
class Notifier(Protocol):
    """Delivers a :class:`Notice`.

    Called by the worker's notification flush, never on the delivery hot path. Raise
    :class:`acadio_webhooks.errors.NotificationError` when the notice could not be handed
    over (SMTP down, refused): the notifications stay unsent in the store and are retried at
    the next flush, and deliveries are unaffected. Returning means the notice was accepted.
    """

    def send(self, notice: Notice) -> None:
        """Hand the notice over, or raise ``NotificationError``."""
        ...

"""The notifier port: how an integration's notification address hears about failures."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

# A value of the domain (composed there, in domain.notices); named here too, beside the port
# that carries it.
from acadio_webhooks.domain.messages import Notice

__all__ = ["Notice", "Notifier"]


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

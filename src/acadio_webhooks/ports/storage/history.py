"""The history role: stored events, deliveries and attempts, as the portal and resend read them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.models import Attempt, Delivery, Event
from acadio_webhooks.ports.storage.values import DeliveryQuery, Page

__all__ = ["History"]


@runtime_checkable
class History(Protocol):
    """The record of what was sent: listings for the portal and the CLI, and resends."""

    def get_event(self, event_id: str) -> Event:
        """The event, or ``NotFound``."""
        ...

    def get_delivery(self, delivery_id: str) -> Delivery:
        """The delivery, or ``NotFound``."""
        ...

    def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        """Deliveries matching ``query``, newest first, one page at a time."""
        ...

    def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """Attempts of one delivery, in order; ``NotFound`` if the delivery is unknown."""
        ...

    def resend(self, delivery_id: str, *, now: datetime) -> Delivery:
        """Queue a new delivery of the same event to the same subscription, due now, with a
        fresh attempt budget; the old delivery and its attempts stay as history."""
        ...

    def resend_failed(self, integration_id: str, *, since: datetime, now: datetime) -> int:
        """``resend`` every failed delivery of the integration created at or after ``since``
        whose subscription is still active; return how many were queued."""
        ...

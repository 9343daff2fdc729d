"""The values the storage roles take and give: routes, delivery queries, pages."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from acadio_webhooks.domain.models import Delivery, DeliveryStatus, Event

__all__ = ["Route", "RoutingSnapshot", "RoutingView", "DeliveryPlanner", "DeliveryQuery", "Page"]

T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    """An active subscription of an active integration, as the dispatcher routes on it."""

    subscription_id: str
    integration_id: str
    pattern: str


@dataclass(frozen=True)
class RoutingSnapshot:
    """A tenant's routes at one routing revision."""

    revision: int
    routes: tuple[Route, ...]


class RoutingView(Protocol):
    """The routing table as one transaction of
    :meth:`~acadio_webhooks.ports.storage.outbox.Outbox.enqueue_routed` sees it."""

    @property
    def revision(self) -> int:
        """The routing revision, read in the transaction (see
        :meth:`~acadio_webhooks.ports.storage.registry.Registry.routing_revision`)."""
        ...

    def routes(self, tenants: Collection[str]) -> dict[str, tuple[Route, ...]]:
        """Each tenant's routes (as
        :meth:`~acadio_webhooks.ports.storage.registry.Registry.routes`), read in the
        transaction; every tenant asked for is a key, with ``()`` when it has none."""
        ...


DeliveryPlanner = Callable[[RoutingView, Sequence[Event]], Sequence[Sequence[Delivery]]]
"""Given the routing table and the events about to be stored, each event's deliveries."""


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters for listing deliveries, newest first. ``cursor`` is a ``Page.next_cursor``."""

    tenant: str | None = None
    integration_id: str | None = None
    subscription_id: str | None = None
    event_id: str | None = None
    status: DeliveryStatus | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None

"""The SQL store's history role, and its backlog view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from acadio_webhooks.adapters.storage.sql import _backlog, _codec, _queue
from acadio_webhooks.adapters.storage.sql._store_base import SqlBase
from acadio_webhooks.adapters.storage.sql.schema import (
    attempts,
    deliveries,
    events,
    integrations,
    subscriptions,
)
from acadio_webhooks.domain import store_rules
from acadio_webhooks.domain.backlog import Backlog
from acadio_webhooks.domain.models import Attempt, Delivery, DeliveryStatus, Event
from acadio_webhooks.ports.storage import DeliveryQuery, Page

__all__ = ["HistoryRole"]


class HistoryRole(SqlBase):
    """Stored events, deliveries and attempts; resends; the backlog counts."""

    def get_event(self, event_id: str) -> Event:
        """The event, or ``NotFound``."""
        with self._transaction("reading an event") as conn:
            row = self._one(conn, events, event_id, "event")
        return _codec.to_event(row)

    def get_delivery(self, delivery_id: str) -> Delivery:
        """The delivery, or ``NotFound``."""
        with self._transaction("reading a delivery") as conn:
            row = self._one(conn, deliveries, delivery_id, "delivery")
        return _codec.to_delivery(row)

    def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        """Deliveries matching ``query``, newest first, one page at a time."""
        d = deliveries
        conditions: list[Any] = [
            column == wanted
            for column, wanted in (
                (d.c.tenant, query.tenant),
                (d.c.integration_id, query.integration_id),
                (d.c.subscription_id, query.subscription_id),
                (d.c.event_id, query.event_id),
                (d.c.status, None if query.status is None else query.status.value),
                (d.c.topic, query.topic),
            )
            if wanted is not None
        ]
        if query.since is not None:
            conditions.append(d.c.created_at >= query.since)
        if query.until is not None:
            conditions.append(d.c.created_at < query.until)
        if query.cursor is not None:
            after_at, after_id = store_rules.decode_cursor(query.cursor)
            conditions.append(
                or_(d.c.created_at < after_at, and_(d.c.created_at == after_at, d.c.id < after_id))
            )
        size = max(query.limit, 0)
        statement = (
            select(d)
            .where(*conditions)
            .order_by(d.c.created_at.desc(), d.c.id.desc())
            .limit(size + 1)
        )
        with self._transaction("listing deliveries") as conn:
            rows = conn.execute(statement).mappings().all()
        page = [_codec.to_delivery(row) for row in rows[:size]]
        more = len(rows) > size and bool(page)
        cursor = store_rules.encode_cursor(page[-1].created_at, page[-1].id) if more else None
        return Page(tuple(page), cursor)

    def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """Attempts of one delivery, in order; ``NotFound`` if the delivery is unknown."""
        a = attempts
        query = (
            select(a)
            .where(a.c.delivery_id == delivery_id)
            .order_by(a.c.number, a.c.started_at, a.c.id)
        )
        with self._transaction("listing attempts") as conn:
            self._require(conn, deliveries, delivery_id, "delivery")
            rows = conn.execute(query).mappings().all()
        return [_codec.to_attempt(row) for row in rows]

    def resend(self, delivery_id: str, *, now: datetime) -> Delivery:
        """Queue a new delivery of the same event to the same subscription, due now."""
        with self._transaction("resending a delivery", write=True) as conn:
            old = _codec.to_delivery(self._one(conn, deliveries, delivery_id, "delivery"))
            self._require(conn, subscriptions, old.subscription_id, "subscription")
            fresh = store_rules.fresh_delivery(old, now)
            conn.execute(deliveries.insert(), _codec.delivery_row(fresh))
            _queue.notify_due(conn, conn.dialect)
        return fresh

    def resend_failed(self, integration_id: str, *, since: datetime, now: datetime) -> int:
        """Resend every failed delivery of the integration created at or after ``since``."""
        d, s = deliveries, subscriptions
        query = (
            select(d)
            .join(s, s.c.id == d.c.subscription_id)
            .where(
                d.c.integration_id == integration_id,
                d.c.status == DeliveryStatus.FAILED.value,
                d.c.created_at >= since,
                s.c.active.is_(True),
            )
            .order_by(d.c.created_at, d.c.id)
        )
        with self._transaction("resending failed deliveries", write=True) as conn:
            owner = self._codec.to_integration(
                self._one(conn, integrations, integration_id, "integration")
            )
            if not owner.active:
                return 0
            failed = [_codec.to_delivery(row) for row in conn.execute(query).mappings()]
            if failed:
                rows = [_codec.delivery_row(store_rules.fresh_delivery(old, now)) for old in failed]
                conn.execute(deliveries.insert(), rows)
                _queue.notify_due(conn, conn.dialect)
        return len(failed)

    def backlog(self, *, now: datetime) -> Backlog:
        """See :meth:`acadio_webhooks.ports.storage.BacklogView.backlog`."""
        with self._transaction("reading the backlog") as conn:
            return _backlog.read_backlog(conn, now)

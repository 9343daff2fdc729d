"""Retention and erasure in SQL: old, final history (or one subject's) deleted in short
batches.

Each function runs one batch inside the caller's writing transaction. Events are walked in
``(created_at, id)`` order from a cursor the caller carries between batches, through the
index of the same name, so a batch costs the same at the first event as at the millionth,
and events kept (a delivery can still change) are stepped over rather than examined again.
On PostgreSQL the batch's events are locked first: a resend inserting a delivery of one of
them waits for the batch, which then no longer finds the event to refer to.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, Select, delete, func, or_, select, tuple_

from acadio_webhooks.adapters.storage.sql.schema import (
    attempts,
    deliveries,
    events,
    notifications,
)
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retention import PruneReport

__all__ = ["Cursor", "prune_events", "prune_notifications", "erase_events"]

_PENDING = DeliveryStatus.PENDING.value


class Cursor(NamedTuple):
    """The last event a batch examined: the next batch starts after it."""

    created_at: datetime
    id: str


def prune_events(
    conn: Connection, before: datetime, after: Cursor | None, limit: int, *, dry_run: bool
) -> tuple[PruneReport, Cursor | None]:
    """One batch of at most ``limit`` events created before ``before``; the report and the
    cursor of the next batch (``None`` when no old event is left to examine)."""
    query = (
        select(events.c.id, events.c.created_at)
        .where(events.c.created_at < before)
        .order_by(events.c.created_at, events.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(events.c.created_at, events.c.id) > tuple_(*after))
    if conn.dialect.name == "postgresql" and not dry_run:
        query = query.with_for_update(of=events)
    rows = conn.execute(query).all()
    if not rows:
        return PruneReport(dry_run=dry_run), None
    examined = [row.id for row in rows]
    kept = set(
        conn.execute(
            select(deliveries.c.event_id)
            .where(
                deliveries.c.event_id.in_(examined),
                or_(deliveries.c.status == _PENDING, deliveries.c.updated_at >= before),
            )
            .distinct()
        ).scalars()
    )
    going = [ident for ident in examined if ident not in kept]
    last = rows[-1]
    following = Cursor(last.created_at, last.id) if len(rows) == limit else None
    if not going:
        return PruneReport(examined=len(examined), dry_run=dry_run), following
    their_deliveries = select(deliveries.c.id).where(deliveries.c.event_id.in_(going))
    if dry_run:
        report = PruneReport(
            events=len(going),
            deliveries=_count(conn, their_deliveries),
            attempts=_count(
                conn, select(attempts.c.id).where(attempts.c.delivery_id.in_(their_deliveries))
            ),
            examined=len(examined),
            dry_run=True,
        )
        return report, following
    return replace(_delete_events(conn, going), examined=len(examined)), following


def _delete_events(conn: Connection, going: list[str]) -> PruneReport:
    """Delete the events ``going`` with their deliveries and those deliveries' attempts."""
    their_deliveries = select(deliveries.c.id).where(deliveries.c.event_id.in_(going))
    gone_attempts = conn.execute(
        delete(attempts).where(attempts.c.delivery_id.in_(their_deliveries))
    ).rowcount
    gone_deliveries = conn.execute(
        delete(deliveries).where(deliveries.c.event_id.in_(going))
    ).rowcount
    gone_events = conn.execute(delete(events).where(events.c.id.in_(going))).rowcount
    return PruneReport(events=gone_events, deliveries=gone_deliveries, attempts=gone_attempts)


def erase_events(
    conn: Connection,
    *,
    subject: str | None,
    tenant: str | None,
    limit: int,
    dry_run: bool,
    skip: int = 0,
) -> PruneReport:
    """One batch of at most ``limit`` events of ``subject`` (or of ``tenant``) deleted, with
    their deliveries (pending ones included: they go in the same transaction, so no claim
    sees them half-erased), attempts and failure notices. ``examined`` is 0 when none is
    left. A dry run counts the batch after the first ``skip`` events instead."""
    match = events.c.subject == subject if subject is not None else events.c.tenant == tenant
    query = select(events.c.id).where(match).order_by(events.c.id).limit(limit)
    if dry_run:
        query = query.offset(skip)
    elif conn.dialect.name == "postgresql":
        query = query.with_for_update(of=events)
    going = list(conn.execute(query).scalars())
    if not going:
        return PruneReport(dry_run=dry_run)
    notices = notifications.c.event_id.in_(going)
    if dry_run:
        their_deliveries = select(deliveries.c.id).where(deliveries.c.event_id.in_(going))
        return PruneReport(
            events=len(going),
            deliveries=_count(conn, their_deliveries),
            attempts=_count(
                conn, select(attempts.c.id).where(attempts.c.delivery_id.in_(their_deliveries))
            ),
            notifications=_count(conn, select(notifications.c.id).where(notices)),
            examined=len(going),
            dry_run=True,
        )
    gone_notices = conn.execute(delete(notifications).where(notices)).rowcount
    return replace(_delete_events(conn, going), notifications=gone_notices, examined=len(going))


def prune_notifications(
    conn: Connection, before: datetime, limit: int, *, dry_run: bool
) -> PruneReport:
    """Sent failure notices sent before ``before``: all of them counted for a dry run, at
    most ``limit`` deleted otherwise (the caller repeats until one deletes nothing)."""
    sent = notifications.c.sent_at < before  # unsent ones (NULL) never match
    if dry_run:
        count = _count(conn, select(notifications.c.id).where(sent))
        return PruneReport(notifications=count, dry_run=True)
    oldest = (
        select(notifications.c.id)
        .where(sent)
        .order_by(notifications.c.sent_at, notifications.c.created_at)
        .limit(limit)
    )
    ids = list(conn.execute(oldest).scalars())
    if not ids:
        return PruneReport()
    gone = conn.execute(delete(notifications).where(notifications.c.id.in_(ids))).rowcount
    return PruneReport(notifications=gone)


def _count(conn: Connection, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.subquery())
    return int(conn.execute(counted).scalar_one())

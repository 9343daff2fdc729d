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

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Delete,
    Select,
    bindparam,
    delete,
    func,
    or_,
    select,
    tuple_,
)

from acadio_webhooks.adapters.storage.sql._dialect import among, locks_rows
from acadio_webhooks.adapters.storage.sql.schema import attempts, deliveries, events, notifications
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.retention import PruneReport

__all__ = ["Cursor", "prune_events", "prune_notifications", "erase_events"]

_PENDING = DeliveryStatus.PENDING.value


@dataclass(frozen=True)
class _Statements:
    """A batch's statements, built once, its ids passed as parameters (``events``,
    ``deliveries``): every statement finds its rows by index whatever the table size
    (deleting attempts through a subquery let PostgreSQL pick a hash join over all of them).
    """

    kept: Select[str]
    their_deliveries: Select[str]
    count_attempts: Select[int]
    delete_attempts: Delete
    delete_deliveries: Delete
    delete_events: Delete

    @classmethod
    def using(cls, dialect: str) -> _Statements:
        def listed(column: ColumnElement[str], name: str) -> ColumnElement[bool]:
            return among(column, dialect, name)

        recent = deliveries.c.updated_at >= bindparam("before")
        their_attempts = listed(attempts.c.delivery_id, "deliveries")
        return cls(
            kept=select(deliveries.c.event_id)
            .where(listed(deliveries.c.event_id, "events"))
            .where(or_(deliveries.c.status == _PENDING, recent))
            .distinct(),
            their_deliveries=select(deliveries.c.id).where(listed(deliveries.c.event_id, "events")),
            count_attempts=select(func.count()).where(their_attempts),
            delete_attempts=delete(attempts).where(their_attempts),
            delete_deliveries=delete(deliveries).where(listed(deliveries.c.id, "deliveries")),
            delete_events=delete(events).where(listed(events.c.id, "events")),
        )


_STATEMENTS = {"postgresql": _Statements.using("postgresql")}
_PORTABLE = _Statements.using("sqlite")  # and MySQL: IN lists


def _statements(conn: Connection) -> _Statements:
    return _STATEMENTS.get(conn.dialect.name, _PORTABLE)


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
    if locks_rows(conn.dialect) and not dry_run:
        query = query.with_for_update(of=events)
    rows = conn.execute(query).all()
    if not rows:
        return PruneReport(dry_run=dry_run), None
    examined = [row.id for row in rows]
    kept = set(
        conn.execute(_statements(conn).kept, {"events": examined, "before": before}).scalars()
    )
    going = [ident for ident in examined if ident not in kept]
    last = rows[-1]
    following = Cursor(last.created_at, last.id) if len(rows) == limit else None
    if not going:
        return PruneReport(examined=len(examined), dry_run=dry_run), following
    return replace(_history(conn, going, dry_run=dry_run), examined=len(examined)), following


def _history(conn: Connection, going: list[str], *, dry_run: bool) -> PruneReport:
    """Delete the events ``going`` with their deliveries and those deliveries' attempts, or
    count them for a dry run."""
    run = _statements(conn)
    their = list(conn.execute(run.their_deliveries, {"events": going}).scalars())
    if not their:  # events no subscription matched
        gone = 0 if dry_run else conn.execute(run.delete_events, {"events": going}).rowcount
        return PruneReport(events=len(going) if dry_run else gone, dry_run=dry_run)
    if dry_run:
        counted = conn.execute(run.count_attempts, {"deliveries": their}).scalar_one()
        return PruneReport(
            events=len(going), deliveries=len(their), attempts=int(counted), dry_run=True
        )
    gone_attempts = conn.execute(run.delete_attempts, {"deliveries": their}).rowcount
    gone_deliveries = conn.execute(run.delete_deliveries, {"deliveries": their}).rowcount
    gone_events = conn.execute(run.delete_events, {"events": going}).rowcount
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
    elif locks_rows(conn.dialect):
        query = query.with_for_update(of=events)
    going = list(conn.execute(query).scalars())
    if not going:
        return PruneReport(dry_run=dry_run)
    notices = notifications.c.event_id.in_(going)
    if dry_run:
        counted = _count(conn, select(notifications.c.id).where(notices))
        return replace(
            _history(conn, going, dry_run=True), notifications=counted, examined=len(going)
        )
    gone_notices = conn.execute(delete(notifications).where(notices)).rowcount
    history = _history(conn, going, dry_run=False)
    return replace(history, notifications=gone_notices, examined=len(going))


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

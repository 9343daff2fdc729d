"""The due window in SQL: which pending deliveries a claim reads, with everything an attempt
needs joined in, in due order (and the row locks that keep two claimers apart).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    and_,
    bindparam,
    or_,
    select,
)

from acadio_webhooks.adapters.storage.sql._dialect import (
    MYSQL,
    family,
)
from acadio_webhooks.adapters.storage.sql._prepared import prepared
from acadio_webhooks.adapters.storage.sql.schema import (
    UtcDateTime,
    deliveries,
    events,
    integrations,
    subscriptions,
)
from acadio_webhooks.domain.core import PAUSE_HORIZON
from acadio_webhooks.domain.models import DeliveryStatus

__all__ = ["PENDING", "_Due", "_work_rows", "_due_rows"]

PENDING = DeliveryStatus.PENDING.value

_MAX_ROUNDS = 8
"""Windows one claim reads at most: rows put off for rate limits, cancelled or unreadable
do not fill a claim, and a long backlog of them is worked through over several claims
rather than in one long transaction."""


class _Due(NamedTuple):
    """One row of a claim or take: the delivery, its subscription, integration and event."""

    id: str
    event_id: str
    topic: str
    tenant: str
    subscription_id: str
    integration_id: str
    attempts: int
    next_attempt_at: datetime
    rate_reserved: bool | None
    endpoint: str | None
    subscription_active: bool | None
    consecutive_failures: int | None
    failing_since: datetime | None
    headers: str | None
    rate_limited: bool | None
    integration_active: bool | None
    secrets: str | None
    payload: bytes
    trace_context: str | None


def _work_rows() -> Select[Any]:
    d, s, i, e = deliveries, subscriptions, integrations, events
    return select(
        d.c.id,
        d.c.event_id,
        d.c.topic,
        d.c.tenant,
        d.c.subscription_id,
        d.c.integration_id,
        d.c.attempts,
        d.c.next_attempt_at,
        d.c.rate_reserved,
        s.c.endpoint,
        s.c.active,
        s.c.consecutive_failures,
        s.c.failing_since,
        s.c.headers,
        # Whether only: the limit itself is read with the limiter's state, under its lock.
        s.c.rate_limit.is_not(None),
        i.c.active,
        i.c.secrets,
        e.c.payload,
        e.c.trace_context,
    ).select_from(
        d.join(e, e.c.id == d.c.event_id)
        .outerjoin(s, s.c.id == d.c.subscription_id)
        .outerjoin(i, i.c.id == d.c.integration_id)
    )


_NOW = bindparam("b_now", type_=UtcDateTime)
# A delivery is due at `b_now`: pending, its time come, and no live lease on it. Every claim's
# window, and the lock of MySQL's, says it with these.
_DUE = (
    deliveries.c.status == PENDING,
    deliveries.c.next_attempt_at <= _NOW,
    or_(deliveries.c.lease_expires_at.is_(None), deliveries.c.lease_expires_at <= _NOW),
)


def _due_window(*, lock: bool, skip_subscriptions: Collection[str] = ()) -> Select[Any]:
    """The oldest due deliveries; parameters ``b_now``, ``b_horizon`` and ``b_limit``."""
    d, s = deliveries, subscriptions
    query = (
        _work_rows()
        .where(
            *_DUE,
            # A subscription paused by the circuit breaker keeps its deliveries pending
            # (domain.core.is_paused: a pause beyond the horizon is void, the clock went back).
            or_(
                s.c.paused_until.is_(None),
                s.c.paused_until <= _NOW,
                s.c.paused_until > bindparam("b_horizon", type_=UtcDateTime),
            ),
        )
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(bindparam("b_limit", type_=Integer))
    )
    if skip_subscriptions:
        query = query.where(d.c.subscription_id.not_in(list(skip_subscriptions)))
    if lock:
        query = query.with_for_update(of=d, skip_locked=True)
    return query


def _due_rows(
    conn: Connection, *, now: datetime, limit: int, skip_subscriptions: Collection[str]
) -> list[_Due]:
    if family(conn.dialect) == MYSQL:
        return _due_rows_locked_apart(conn, now=now, limit=limit, skip=skip_subscriptions)
    lock = conn.dialect.name == "postgresql"
    values = {"b_now": now, "b_horizon": now + PAUSE_HORIZON, "b_limit": limit}
    if skip_subscriptions:
        # The list of subscriptions left out changes from claim to claim: not prepared.
        query = _due_window(lock=lock, skip_subscriptions=skip_subscriptions)
        return [_Due._make(row) for row in conn.execute(query, values)]
    window = prepared(conn.dialect, "due window", lambda dialect: _due_window(lock=lock))
    return [_Due._make(row) for row in window.fetch(conn, values)]


def _due_rows_locked_apart(
    conn: Connection, *, now: datetime, limit: int, skip: Collection[str]
) -> list[_Due]:
    """The due window on MySQL, found by a plain read and locked by primary key.

    A locking read through the due index would lock the index entry of every row it passes,
    other workers' leased rows included, and MariaDB then waits for their row locks even
    with ``SKIP LOCKED``: settles updating those entries and claims dead-locked. (Nor can
    its ``FOR UPDATE`` name the table to lock: MariaDB has no ``OF``.) So the oldest due
    rows, paused subscriptions left out, are read without locks, window after window, then
    locked one by one by primary key with ``SKIP LOCKED`` (another claimer's go to it),
    their state checked again under the lock; their work rows are read last."""
    d = deliveries
    paused = conn.execute(_PAUSED, {"b_now": now, "b_horizon": now + PAUSE_HORIZON}).scalars()
    left_out = sorted(set(skip).union(paused))
    locked: list[str] = []
    after: Any = None
    for _window in range(_MAX_ROUNDS):
        wanted = limit - len(locked)
        window = _due_candidates(left_out, after)
        candidates = conn.execute(window, {"b_now": now, "b_limit": wanted}).all()
        ids = [row.id for row in candidates]
        if ids:
            mine = set(conn.execute(_LOCK_DUE, {"b_ids": ids, "b_now": now}).scalars())
            locked.extend(ident for ident in ids if ident in mine)
        if len(candidates) < wanted or len(locked) >= limit:
            break
        after = candidates[-1]
    if not locked:
        return []
    rows = conn.execute(
        _work_rows().where(d.c.id.in_(locked)).order_by(d.c.next_attempt_at, d.c.id)
    )
    return [_Due._make(row) for row in rows]


def _due_candidates(left_out: Sequence[str], after: Any) -> Select[Any]:
    """The oldest due deliveries (id and due time), read without locks, after ``after``."""
    d = deliveries
    query = select(d.c.id, d.c.next_attempt_at).where(*_DUE)
    if left_out:
        query = query.where(d.c.subscription_id.not_in(left_out))
    if after is not None:
        query = query.where(
            or_(
                d.c.next_attempt_at > after.next_attempt_at,
                and_(d.c.next_attempt_at == after.next_attempt_at, d.c.id > after.id),
            )
        )
    return query.order_by(d.c.next_attempt_at, d.c.id).limit(bindparam("b_limit", type_=Integer))


_LOCK_DUE = (
    select(deliveries.c.id)
    .where(deliveries.c.id.in_(bindparam("b_ids", expanding=True)), *_DUE)
    .with_for_update(skip_locked=True)
)


# Paused by the circuit breaker, the same rule as the joined window's (domain.core.is_paused).
_PAUSED = select(subscriptions.c.id).where(
    subscriptions.c.paused_until > _NOW,
    subscriptions.c.paused_until <= bindparam("b_horizon", type_=UtcDateTime),
)

"""Rate limits in SQL: the limiter state of rate-limited subscriptions, read and written
inside the claim's transaction (see :mod:`acadio_webhooks.domain.rate_limit`).

SQLite runs one claim at a time. On PostgreSQL and MySQL each claim locks the subscription
rows it limits, ``SKIP LOCKED``: a subscription another claimer is limiting right now is left
to that claimer (its due deliveries stay as they are for the next claim), so claimers never
wait for each other here nor take locks in an order that could dead-lock.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, true, union_all, update

from acadio_webhooks.adapters.storage.sql._dialect import locks_rows
from acadio_webhooks.adapters.storage.sql.schema import UtcDateTime, deliveries, subscriptions
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.rate_limit import Pace, Throttle

_PENDING = DeliveryStatus.PENDING.value

__all__ = ["load_throttles", "save_throttles", "put_off", "next_reserved", "reset_throttle"]


_STATE = (
    select(
        subscriptions.c.id,
        subscriptions.c.rate_limit,
        subscriptions.c.rate_sent_until,
        subscriptions.c.rate_queued_until,
    )
    .where(subscriptions.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(subscriptions.c.id)
)
_STATE_LOCKED = _STATE.with_for_update(skip_locked=True)


def load_throttles(
    conn: Connection, subscription_ids: Collection[str]
) -> dict[str, Throttle | None]:
    """The limiters of ``subscription_ids`` this claim may use, locked where rows lock; None
    for a subscription whose limit was lifted since its due deliveries were read (they go
    unthrottled). Left out: subscriptions another claimer holds, whose due
    deliveries are that claimer's to space."""
    query = _STATE_LOCKED if locks_rows(conn.dialect) else _STATE
    return {
        row.id: None
        if row.rate_limit is None
        else Throttle(Pace.of(row.rate_limit), row.rate_sent_until, row.rate_queued_until)
        for row in conn.execute(query, {"b_ids": list(subscription_ids)})
    }


_SAVE = (
    update(subscriptions)
    .where(subscriptions.c.id == bindparam("b_id"))
    .values(
        rate_sent_until=bindparam("b_sent", type_=UtcDateTime),
        rate_queued_until=bindparam("b_queued", type_=UtcDateTime),
    )
)


def save_throttles(conn: Connection, throttles: Mapping[str, Throttle]) -> None:
    """Write the limiters' state back."""
    if throttles:
        conn.execute(
            _SAVE,
            [
                {"b_id": ident, "b_sent": t.sent_until, "b_queued": t.queued_until}
                for ident, t in throttles.items()
            ],
        )


_PUT_OFF = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(next_attempt_at=bindparam("b_due", type_=UtcDateTime), rate_reserved=True)
)


def put_off(conn: Connection, until: Sequence[tuple[str, datetime]]) -> None:
    """Reschedule deliveries to the times their endpoints' limits let them go, reserved."""
    if until:
        conn.execute(_PUT_OFF, [{"b_id": ident, "b_due": due} for ident, due in until])


def _first_reserved(subscription_id: str, now: datetime) -> Select[Any]:
    d = deliveries
    # Walks the (subscription_id, status, next_attempt_at) index from ``now`` on.
    first = (
        select(d.c.next_attempt_at)
        .where(
            d.c.subscription_id == subscription_id,
            d.c.status == _PENDING,
            d.c.next_attempt_at > now,
            d.c.rate_reserved == true(),
        )
        .order_by(d.c.next_attempt_at)
        .limit(1)
        .subquery()
    )
    return select(first.c.next_attempt_at)


def next_reserved(
    conn: Connection, subscription_ids: Sequence[str], *, now: datetime
) -> datetime | None:
    """When the first delivery put off for these subscriptions' limits comes due."""
    if not subscription_ids:
        return None
    # One short index walk per subscription, in one statement.
    firsts = union_all(*(_first_reserved(ident, now) for ident in subscription_ids)).subquery()
    return conn.execute(select(func.min(firsts.c.next_attempt_at))).scalar()


def reset_throttle(conn: Connection, subscription_id: str) -> None:
    """Forget a subscription's limiter state and make its reserved deliveries due again:
    after its limit changed, they are spaced by the new one (or go, without one)."""
    d = deliveries
    # They were due when put off, so due since they were created is right, whichever clock
    # the claimers keep. The deliveries first: a claim holding some of them then waits for
    # no subscription row this transaction already holds.
    values: dict[str, Any] = {"next_attempt_at": d.c.created_at, "rate_reserved": None}
    conn.execute(
        update(d)
        .where(
            d.c.subscription_id == subscription_id,
            d.c.status == _PENDING,
            d.c.rate_reserved == true(),
        )
        .values(values)
    )
    conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id)
        .values(rate_sent_until=None, rate_queued_until=None)
    )

"""Settling in SQL: a batch of attempt verdicts in one transaction.

Records each attempt once (idempotent per attempt id), applies each verdict to its delivery
when the settler still holds the lease, folds the endpoints' health (pause, failures, a
success's reset), disables what the circuit breaker gave up on and queues the notices.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Insert,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

from acadio_webhooks.adapters.storage.sql._codec import notification_row
from acadio_webhooks.adapters.storage.sql._dialect import (
    among,
    insert_ignoring_conflicts,
    locks_rows,
)
from acadio_webhooks.adapters.storage.sql._due import PENDING
from acadio_webhooks.adapters.storage.sql._prepared import prepared
from acadio_webhooks.adapters.storage.sql._queue import (
    BY_INDEX,
    cancel_where,
    delivery_states,
)
from acadio_webhooks.adapters.storage.sql.schema import (
    UtcDateTime,
    attempts,
    deliveries,
    notifications,
    subscriptions,
)
from acadio_webhooks.domain.messages import Settlement
from acadio_webhooks.domain.store_rules import HealthChange, fold_health

__all__ = ["settle"]

logger = logging.getLogger("acadio_webhooks.storage")


def _recorded(dialect: Dialect) -> Select[Any]:
    return select(attempts.c.attempt_id).where(among(attempts.c.attempt_id, dialect, "b_ids"))


def _dirty(dialect: Dialect) -> Select[Any]:
    """Which subscriptions of ``b_ids`` have failures, a failing streak or a pause."""
    s = subscriptions
    return select(s.c.id).where(
        among(s.c.id, dialect, "b_ids"),
        or_(
            s.c.consecutive_failures != 0,
            s.c.failing_since.is_not(None),
            s.c.paused_until.is_not(None),
        ),
    )


def settle(
    conn: Connection, settlements: Sequence[Settlement], *, owner: str, now: datetime
) -> bool:
    """Apply a batch of verdicts; return whether any subscription was disabled.

    Idempotent per attempt: a settlement whose attempt is already recorded (a settle retried
    after its commit went through but the acknowledgement was lost) is skipped whole, verdict
    included, even if ``owner`` has claimed the delivery again since.
    """
    if not settlements:
        return False
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT {BY_INDEX}")
    ids = {s.item.delivery_id for s in settlements}
    # Where rows lock, the delivery rows are locked before any attempt is looked up or stored:
    # two settles of the same attempts queue there, and the second finds the first's attempts.
    locking = locks_rows(conn.dialect)
    states = prepared(
        conn.dialect,
        "delivery states, locked" if locking else "delivery states",
        lambda dialect: delivery_states(dialect, locked=locking),
    )
    held = {
        delivery_id: status == PENDING and lease_owner == owner
        for delivery_id, status, lease_owner in states.fetch(conn, {"b_ids": list(ids)})
    }
    gone = ids - held.keys()
    if gone:
        # Erased (or pruned) while its attempt was in flight: nothing left to record it on.
        logger.info("%d attempts not recorded: their deliveries were erased", len(gone))
        settlements = [s for s in settlements if s.item.delivery_id not in gone]

    fresh = _record_new_attempts(conn, settlements)
    if not fresh:
        return False

    owned: list[Settlement] = []
    for settlement in fresh:
        if held[settlement.item.delivery_id]:
            held[settlement.item.delivery_id] = False  # one verdict per delivery and batch
            owned.append(settlement)
    if not owned:
        return False
    _apply_verdicts(conn, owned, now)
    _apply_health(conn, owned)
    disabled = _disable(conn, owned, now)
    rows = [notification_row(n) for s in owned for n in s.notifications]
    if rows:
        conn.execute(insert_ignoring_conflicts(conn.dialect.name, notifications, ["id"]), rows)
    return disabled


# The attempts table's columns, each with the Attempt field it stores.
_ATTEMPT_FIELDS = {
    "attempt_id": "id",
    "delivery_id": "delivery_id",
    "number": "number",
    "started_at": "started_at",
    "duration_ms": "duration_ms",
    "status_code": "status_code",
    "error": "error",
    "response_excerpt": "response_excerpt",
    "succeeded": "succeeded",
}
_ATTEMPT_COLUMNS = tuple(_ATTEMPT_FIELDS)


def _record_new_attempts(conn: Connection, settlements: Sequence[Settlement]) -> list[Settlement]:
    """Record the attempts of ``settlements`` not recorded yet; their settlements, each
    attempt once, in order."""
    if conn.dialect.name == "postgresql":
        return _inserted_at_once(conn, settlements)
    fresh = _unrecorded(conn, settlements)
    _record_attempts(conn, fresh)
    return fresh


def _inserted_at_once(conn: Connection, settlements: Sequence[Settlement]) -> list[Settlement]:
    """PostgreSQL: the batch's attempts in one statement, one array per column, and the ids
    it stored back (an attempt recorded before conflicts under the unique index, left out).

    Looked up first and inserted after, the attempts cost two statements, and the look-up's
    plan was the one PostgreSQL kept from when psycopg prepared it: made on a near-empty
    table it scans every attempt, and 100 look-ups among 10,000 took 12 ms of a 21 ms settle
    (the whole settle here: 9.6 ms). An insert has no such plan to go stale.
    """
    first: dict[str, Settlement] = {}
    for settlement in settlements:
        first.setdefault(settlement.attempt.id, settlement)
    made = [s.attempt for s in first.values()]
    columns = {
        f"b_{column}": [getattr(attempt, field) for attempt in made]
        for column, field in _ATTEMPT_FIELDS.items()
    }
    insert_ = prepared(conn.dialect, "record attempts, one array per column", _attempts_unnested)
    stored = {attempt_id for (attempt_id,) in insert_.fetch(conn, columns)}
    return [s for attempt_id, s in first.items() if attempt_id in stored]


def _unnested(table: Table, names: Sequence[str]) -> TableValuedAlias:
    """PostgreSQL: rows from one array parameter (``b_<name>``) per named column of
    ``table``, typed as the column."""
    arrays = [
        # Strings without a length: a cast to VARCHAR(n)[] would cut longer values silently.
        bindparam(f"b_{name}", type_=ARRAY(_unbounded(table.c[name].type)))
        for name in names
    ]
    return func.unnest(*arrays).table_valued(*names).render_derived()


def _attempts_unnested(dialect: Dialect) -> Insert:
    rows = _unnested(attempts, _ATTEMPT_COLUMNS)
    return (
        postgresql.insert(attempts)
        .from_select(list(_ATTEMPT_COLUMNS), select(*rows.c))
        .on_conflict_do_nothing(index_elements=["attempt_id"])
        .returning(attempts.c.attempt_id)
    )


def _unbounded(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    return String() if isinstance(column_type, String) else column_type


def _unrecorded(conn: Connection, settlements: Sequence[Settlement]) -> list[Settlement]:
    """The settlements whose attempts are not recorded yet, each attempt once."""
    wanted = {s.attempt.id for s in settlements}
    found = prepared(conn.dialect, "recorded attempts", _recorded)
    recorded = {attempt_id for (attempt_id,) in found.fetch(conn, {"b_ids": list(wanted)})}
    fresh: list[Settlement] = []
    for settlement in settlements:
        if settlement.attempt.id not in recorded:
            recorded.add(settlement.attempt.id)
            fresh.append(settlement)
    return fresh


def _attempt_insert(dialect: Dialect) -> Insert:
    return insert_ignoring_conflicts(dialect.name, attempts, ["attempt_id"]).values(
        {name: bindparam(f"b_{name}", type_=attempts.c[name].type) for name in _ATTEMPT_COLUMNS}
    )


def _record_attempts(conn: Connection, fresh: Sequence[Settlement]) -> None:
    rows = []
    for settlement in fresh:
        attempt = settlement.attempt
        rows.append(
            {
                "b_attempt_id": attempt.id,
                "b_delivery_id": attempt.delivery_id,
                "b_number": attempt.number,
                "b_started_at": attempt.started_at,
                "b_duration_ms": attempt.duration_ms,
                "b_status_code": attempt.status_code,
                "b_error": attempt.error,
                "b_response_excerpt": attempt.response_excerpt,
                "b_succeeded": attempt.succeeded,
            }
        )
    prepared(conn.dialect, "record attempts", _attempt_insert).execute_many(conn, rows)


def _verdict_update(dialect: Dialect) -> Update:
    return (
        update(deliveries)
        .where(deliveries.c.id == bindparam("b_id"))
        .values(
            status=bindparam("b_status"),
            attempts=bindparam("b_attempts"),
            next_attempt_at=bindparam("b_next", type_=UtcDateTime),
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            updated_at=bindparam("b_now", type_=UtcDateTime),
            lease_owner=None,
            lease_expires_at=None,
        )
    )


# The deliveries table's columns a verdict sets from its settlement (PostgreSQL: one array
# each, filled by _verdicts_at_once in this order).
_VERDICT_COLUMNS = ("id", "status", "attempts", "next_attempt_at", "last_status_code", "last_error")


def _apply_verdicts(conn: Connection, owned: Sequence[Settlement], now: datetime) -> None:
    if conn.dialect.name == "postgresql":
        _verdicts_at_once(conn, owned, now)
        return
    prepared(conn.dialect, "apply verdicts", _verdict_update).execute_many(
        conn,
        [
            {
                "b_id": s.item.delivery_id,
                "b_status": s.status.value,
                "b_attempts": s.attempt.number,
                "b_next": s.next_attempt_at,
                "b_code": s.attempt.status_code,
                "b_error": s.attempt.error,
                "b_now": now,
            }
            for s in owned
        ],
    )


def _verdicts_at_once(conn: Connection, owned: Sequence[Settlement], now: datetime) -> None:
    """PostgreSQL: every verdict of the batch in one ``UPDATE … FROM unnest(…)``.

    Row by row, psycopg binds and sends one statement per delivery: 2.1 ms of the settle's
    CPU per 100 verdicts against 1.0 ms for the arrays (session 23's measurement). ``owned``
    holds each delivery once, so no row is matched twice. The plan joins by the primary key
    whatever PostgreSQL kept, since the settle runs with :data:`BY_INDEX`.
    """
    columns = {
        "b_id": [s.item.delivery_id for s in owned],
        "b_status": [s.status.value for s in owned],
        "b_attempts": [s.attempt.number for s in owned],
        "b_next_attempt_at": [s.next_attempt_at for s in owned],
        "b_last_status_code": [s.attempt.status_code for s in owned],
        "b_last_error": [s.attempt.error for s in owned],
        "b_now": now,
    }
    prepared(conn.dialect, "apply verdicts, one array per column", _verdicts_unnested).execute(
        conn, columns
    )


def _verdicts_unnested(dialect: Dialect) -> Update:
    rows = _unnested(deliveries, _VERDICT_COLUMNS)
    return (
        update(deliveries)
        .where(deliveries.c.id == rows.c.id)
        .values(
            status=rows.c.status,
            attempts=rows.c.attempts,
            next_attempt_at=rows.c.next_attempt_at,
            last_status_code=rows.c.last_status_code,
            last_error=rows.c.last_error,
            updated_at=bindparam("b_now", type_=UtcDateTime),
            lease_owner=None,
            lease_expires_at=None,
        )
    )


def _apply_health(conn: Connection, owned: Sequence[Settlement]) -> None:
    s = subscriptions
    changes = fold_health(owned)
    # A success on a healthy subscription changes nothing: skip the write, so that workers
    # settling successes of the same subscriptions never queue on its row.
    clean = [c.subscription_id for c in changes if c.reset and _is_clean(c)]
    if clean:
        found = prepared(conn.dialect, "unhealthy subscriptions", _dirty)
        dirty = {subscription_id for (subscription_id,) in found.fetch(conn, {"b_ids": clean})}
        changes = [c for c in changes if c.subscription_id in dirty or not _is_clean(c)]
    if not changes:
        return
    if locks_rows(conn.dialect):
        # Lock the rows in one global order first: concurrent settlers touching the same
        # subscriptions then queue instead of dead-locking.
        conn.execute(
            select(s.c.id)
            .where(s.c.id.in_([c.subscription_id for c in changes]))
            .order_by(s.c.id)
            .with_for_update()
        )
    resets = [c for c in changes if c.reset]
    increments = [c for c in changes if not c.reset]

    def params(c: HealthChange) -> dict[str, Any]:
        return {
            "b_id": c.subscription_id,
            "b_failures": c.failures,
            "b_since": c.failing_since,
            "b_paused": c.paused_until,
        }

    if resets:
        conn.execute(
            update(s)
            .where(s.c.id == bindparam("b_id"))
            .values(
                consecutive_failures=bindparam("b_failures"),
                failing_since=bindparam("b_since", type_=UtcDateTime),
                paused_until=bindparam("b_paused", type_=UtcDateTime),
            ),
            [params(c) for c in resets],
        )
    if increments:
        paused = bindparam("b_paused", type_=UtcDateTime)
        conn.execute(
            update(s)
            .where(s.c.id == bindparam("b_id"))
            .values(
                consecutive_failures=s.c.consecutive_failures + bindparam("b_failures"),
                failing_since=func.coalesce(
                    s.c.failing_since, bindparam("b_since", type_=UtcDateTime)
                ),
                # The later pause wins; spelled as CASE because SQLite has no GREATEST.
                paused_until=case(
                    (paused.is_(None), s.c.paused_until),
                    (or_(s.c.paused_until.is_(None), s.c.paused_until < paused), paused),
                    else_=s.c.paused_until,
                ),
            ),
            [params(c) for c in increments],
        )


def _is_clean(change: HealthChange) -> bool:
    return change.reset and change.failures == 0 and change.paused_until is None


def _disable(conn: Connection, owned: Sequence[Settlement], now: datetime) -> bool:
    reasons = {
        s.item.subscription_id: s.disable_subscription
        for s in owned
        if s.disable_subscription is not None
    }
    for subscription_id, reason in reasons.items():
        conn.execute(
            update(subscriptions)
            .where(subscriptions.c.id == subscription_id)
            .values(active=False, disabled_reason=reason[:500])
        )
    if reasons:
        cancel_where(conn, and_(deliveries.c.subscription_id.in_(reasons)), now=now)
    return bool(reasons)

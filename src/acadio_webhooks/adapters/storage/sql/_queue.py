"""The delivery queue in SQL: claim and take, one transaction per batch, few round trips
(settling is in ``_settle``).

Both run inside the caller's writing transaction. SQLite serialises them with
``BEGIN IMMEDIATE``; PostgreSQL and MySQL let claimers run side by side, each locking its own
rows with ``FOR UPDATE SKIP LOCKED``, so two claimers never get the same delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Select,
    Update,
    bindparam,
    func,
    select,
    update,
)

from acadio_webhooks.adapters.storage.sql import _throttle
from acadio_webhooks.adapters.storage.sql._codec import SecretCodec
from acadio_webhooks.adapters.storage.sql._dialect import (
    MYSQL,
    among,
    family,
)
from acadio_webhooks.adapters.storage.sql._due import (
    _MAX_ROUNDS,
    PENDING,
    _Due,
    _due_rows,
    _work_rows,
)
from acadio_webhooks.adapters.storage.sql._prepared import Target, prepared
from acadio_webhooks.adapters.storage.sql.schema import (
    UtcDateTime,
    deliveries,
    routing_revision,
)
from acadio_webhooks.domain.messages import NO_HEADERS, Claimed, WorkItem
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.models import signing_keys as keys_signing_at
from acadio_webhooks.domain.rate_limit import Throttle
from acadio_webhooks.errors import StorageError

__all__ = [
    "BY_INDEX",
    "DUE_CHANNEL",
    "notify_due",
    "claim",
    "take",
    "cancel_where",
    "bump_revision",
    "delivery_states",
]

logger = logging.getLogger("acadio_webhooks.storage")

CANCELLED = DeliveryStatus.CANCELLED.value


DUE_CHANNEL = "acadio_webhooks_due"
"""The PostgreSQL notification channel on which stores announce newly due deliveries."""


def notify_due(target: Target, dialect: Dialect) -> None:
    """On PostgreSQL, ``NOTIFY`` listening workers that deliveries became due.

    Sent inside the caller's transaction, so it is delivered on commit only (a rolled-back
    host transaction with ``enqueue(connection=...)`` wakes nobody), and PostgreSQL folds
    identical notifications of one transaction into one. SQLite has no notifications:
    its workers poll.
    """
    if dialect.name == "postgresql":  # prepared: every emit sends it
        prepared(dialect, "notify due", _notify_due).execute(target, {})


def _notify_due(dialect: Dialect) -> Select[tuple[Any]]:
    return select(func.pg_notify(DUE_CHANNEL, ""))


def bump_revision(conn: Connection) -> None:
    """Move the routing revision (the dispatcher's cue to rebuild its pattern index)."""
    conn.execute(
        update(routing_revision)
        .where(routing_revision.c.id == 1)
        .values(revision=routing_revision.c.revision + 1)
    )


def cancel_where(conn: Connection, *conditions: Any, now: datetime | None) -> int:
    """Cancel the pending deliveries matching ``conditions``; return how many."""
    values: dict[str, Any] = {
        "status": CANCELLED,
        "next_attempt_at": None,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if now is not None:
        values["updated_at"] = now
    result = conn.execute(
        update(deliveries).where(deliveries.c.status == PENDING, *conditions).values(**values)
    )
    return int(result.rowcount)


def _lease(dialect: Dialect) -> Update:
    return (
        update(deliveries)
        .where(among(deliveries.c.id, dialect, "b_ids"))
        .values(
            lease_owner=bindparam("b_owner"),
            lease_expires_at=bindparam("b_until", type_=UtcDateTime),
            rate_reserved=None,
        )
    )


def delivery_states(dialect: Dialect, *, locked: bool) -> Select[Any]:
    """Each delivery of the list parameter ``b_ids``: its id, status and lease owner;
    ``locked``: its row locked, in id order."""
    d = deliveries
    query = select(d.c.id, d.c.status, d.c.lease_owner).where(among(d.c.id, dialect, "b_ids"))
    return query.order_by(d.c.id).with_for_update(of=d) if locked else query


BY_INDEX = "set_config('enable_seqscan', 'off', true)"
"""PostgreSQL, for the rest of the transaction: find rows through an index wherever one
serves. Every statement of a claim, a take and a settle looks its rows up by key, but the plan
PostgreSQL keeps for a statement psycopg prepared (on its fifth run) is made once, on the
table as it was then: made on a near-empty table it is a scan of the whole table, and kept
as long as nothing analyses the table again (never, with autovacuum off). Behind 50,000
delivered deliveries such plans made a claim and a settle of 100 take 170 ms each, against
8 and 9 ms under this setting (``benchmarks/bench_history.py``): a plan made under it uses
the index, and is the one kept."""

_CLAIM_SETTINGS = (
    "SELECT set_config('synchronous_commit', 'off', true), set_config('enable_sort', 'off', true), "
    + BY_INDEX
)
"""PostgreSQL settings of a claim's transaction, in one round trip (see :func:`claim`)."""


def claim(
    conn: Connection,
    codec: SecretCodec,
    *,
    now: datetime,
    limit: int,
    owner: str,
    lease: timedelta,
    skip_subscriptions: Collection[str] = (),
) -> Claimed:
    """Lease up to ``limit`` due deliveries to ``owner``; cancel the inactive ones met and
    put off those over their endpoint's rate limit."""
    if conn.dialect.name == "postgresql":
        # A lease lost in a server crash only makes its deliveries claimable again (what
        # lease expiry does anyway), so the claim need not wait for its WAL flush; the
        # settle that follows is durable and flushes the claim's WAL with its own.
        # And the due window is read in the due index's order, never sorted: statistics
        # taken before a burst (a fresh table, or a large one mostly delivered) make the
        # planner expect a handful of due rows, join and sort the whole backlog with its
        # payloads (85 ms per claim of 50 behind 10,000 due, against 0.3 ms in order).
        # Every row is found by index (BY_INDEX).
        conn.exec_driver_sql(_CLAIM_SETTINGS)
    keys: dict[str, tuple[bytes, ...] | StorageError] = {}
    items = Claimed()
    limits = _Limits(skip_subscriptions)
    for _round in range(_MAX_ROUNDS):
        wanted = limit - len(items)
        rows = _due_rows(conn, now=now, limit=wanted, skip_subscriptions=limits.skipped)
        going = limits.apply(conn, rows, now)
        put_off = len(rows) - len(going)
        unsent = _lease_rows(conn, codec, going, items, keys, owner=owner, now=now, lease=lease)
        left_out = put_off + unsent
        # A short window means the due backlog is exhausted; a window handed out whole filled
        # the claim.
        if len(rows) < wanted or not left_out:
            break
        if not unsent and 2 * len(items) >= limit:
            # Only rows put off for rate limits: a few of each window while an endpoint's
            # backlog is being spaced out. Half full is enough then, as another round costs
            # about as much as another claim; more are due, so the claimer comes back at once.
            items.resume_at = now
            break
    else:
        items.resume_at = now  # more may be due: claim again without waiting
    limits.save(conn)
    if items.resume_at is None:
        items.resume_at = limits.resume_at(conn, now)
    return items


class _Limits:
    """The rate limits met during one claim."""

    def __init__(self, skip_subscriptions: Collection[str]) -> None:
        self.skipped = set(skip_subscriptions)
        self.throttles: dict[str, Throttle] = {}
        self.unlimited: set[str] = set()
        self.first_put_off: datetime | None = None
        self.sent_reserved: set[str] = set()

    def apply(self, conn: Connection, rows: Sequence[_Due], now: datetime) -> list[_Due]:
        """The rows that may go now; put off the others."""
        limited = {
            r.subscription_id
            for r in rows
            if r.rate_limited and r.subscription_active and r.integration_active
        }
        if not limited:
            return list(rows)
        unknown = limited - self.throttles.keys() - self.unlimited
        if unknown:
            for ident, loaded in _throttle.load_throttles(conn, unknown).items():
                if loaded is None:
                    self.unlimited.add(ident)
                else:
                    self.throttles[ident] = loaded
        going: list[_Due] = []
        until: list[tuple[str, datetime]] = []
        for row in rows:
            throttle = self.throttles.get(row.subscription_id)
            if throttle is None:
                if row.subscription_id in limited and row.subscription_id not in self.unlimited:
                    # Locked by another claimer: its deliveries wait for it.
                    self.skipped.add(row.subscription_id)
                    continue
                going.append(row)
                continue
            due = throttle.admit(now, reserved=bool(row.rate_reserved))
            if due is None:
                going.append(row)
                if row.rate_reserved:
                    self.sent_reserved.add(row.subscription_id)
            else:
                until.append((row.id, due))
                if self.first_put_off is None or due < self.first_put_off:
                    self.first_put_off = due
        _throttle.put_off(conn, until)
        return going

    def save(self, conn: Connection) -> None:
        _throttle.save_throttles(conn, self.throttles)

    def resume_at(self, conn: Connection, now: datetime) -> datetime | None:
        """When the first delivery this claim knows to be put off comes due: the first it
        put off, or the next one queued behind a reserved delivery it let go. (Those put off
        by earlier claims were those claims' news.)"""
        after_sent = [
            ident
            for ident in self.sent_reserved
            if (queued := self.throttles[ident].queued_until) is not None and queued > now
        ]
        firsts = [self.first_put_off, _throttle.next_reserved(conn, after_sent, now=now)]
        return min((first for first in firsts if first is not None), default=None)


def _lease_rows(
    conn: Connection,
    codec: SecretCodec,
    rows: Sequence[_Due],
    items: list[WorkItem],
    keys: dict[str, tuple[bytes, ...] | StorageError],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> int:
    """Lease the live ``rows`` to ``owner`` and append their work items to ``items``; cancel
    the rows of inactive subscriptions or integrations. Return how many rows were not handed
    out (cancelled, or their integration's secrets unreadable)."""
    live = [r for r in rows if r.subscription_active and r.integration_active]
    dead = [r.id for r in rows if not (r.subscription_active and r.integration_active)]
    if live:
        # Deliveries whose secrets cannot be read are leased too, though not handed out: the
        # lease keeps them out of the next claims for a while instead of at the head of every
        # one, and they are tried again, still pending, when it runs out.
        prepared(conn.dialect, "lease", _lease).execute(
            conn, {"b_ids": [r.id for r in live], "b_owner": owner, "b_until": now + lease}
        )
    # Per integration or subscription whose secrets or headers cannot be read: the error
    # and the deliveries it leaves pending.
    unreadable: dict[str, tuple[StorageError, list[str]]] = {}
    endpoint_headers: dict[str, Mapping[str, str] | StorageError] = {}
    for row in live:
        integration_id = row.integration_id
        if integration_id not in keys:
            keys[integration_id] = _signing_keys(codec, row, now)
        signing_keys = keys[integration_id]
        headers: Mapping[str, str] | StorageError = NO_HEADERS
        if row.headers is not None:
            if row.subscription_id not in endpoint_headers:
                endpoint_headers[row.subscription_id] = _headers(codec, row)
            headers = endpoint_headers[row.subscription_id]
        if isinstance(signing_keys, StorageError):
            unreadable.setdefault(str(signing_keys), (signing_keys, []))[1].append(row.id)
        elif isinstance(headers, StorageError):
            unreadable.setdefault(str(headers), (headers, []))[1].append(row.id)
        else:
            items.append(_work_item(row, signing_keys, headers))
    for problem, skipped in unreadable.values():
        logger.error(
            "%d due deliveries left pending for %s: %s",
            len(skipped),
            lease,
            problem,
            extra={"delivery_ids": skipped},
        )
    if dead:
        cancel_where(conn, deliveries.c.id.in_(dead), now=now)
    return len(dead) + sum(len(skipped) for _problem, skipped in unreadable.values())


def _signing_keys(codec: SecretCodec, row: _Due, now: datetime) -> tuple[bytes, ...] | StorageError:
    """The keys that sign the row's delivery now, or why they cannot be read."""
    assert row.secrets is not None  # only live rows (with their integration) get here
    try:
        secrets = codec.load(row.secrets, row.integration_id)
    except StorageError as exc:
        return exc
    return keys_signing_at(secrets, now)


def _headers(codec: SecretCodec, row: _Due) -> Mapping[str, str] | StorageError:
    """The row's subscription's custom headers, or why they cannot be read."""
    try:
        return MappingProxyType(codec.load_headers(row.headers, row.subscription_id))
    except StorageError as exc:
        return exc


def take(
    conn: Connection,
    codec: SecretCodec,
    delivery_ids: Sequence[str],
    *,
    owner: str,
    new_owner: str,
    now: datetime,
    lease: timedelta,
) -> list[WorkItem]:
    """Move the leases ``owner`` holds on ``delivery_ids`` to ``new_owner``; their items."""
    d = deliveries
    query = _work_rows().where(
        d.c.id.in_(list(delivery_ids)), d.c.status == PENDING, d.c.lease_owner == owner
    )
    if conn.dialect.name == "postgresql":
        # As for claims: a take lost in a server crash leaves the lease with the pump, whose
        # expiry frees the delivery again; the settle that follows is durable.
        conn.exec_driver_sql(f"SELECT set_config('synchronous_commit', 'off', true), {BY_INDEX}")
        # Two takers of the same lease serialise here; the second finds it moved.
        query = query.with_for_update(of=d)
    elif family(conn.dialect) == MYSQL:
        # The same, on the delivery rows alone (see _due_rows_locked_apart).
        locked = prepared(conn.dialect, "delivery states, locked", _locked_states)
        locked.fetch(conn, {"b_ids": list(delivery_ids)})
    rows = [_Due._make(row) for row in conn.execute(query.order_by(d.c.next_attempt_at, d.c.id))]
    items: list[WorkItem] = []
    _lease_rows(conn, codec, rows, items, {}, owner=new_owner, now=now, lease=lease)
    return items


def _locked_states(dialect: Dialect) -> Select[Any]:
    return delivery_states(dialect, locked=True)


def _work_item(row: _Due, signing_keys: tuple[bytes, ...], headers: Mapping[str, str]) -> WorkItem:
    # Live rows only: their subscription exists, so its columns are there.
    assert row.endpoint is not None
    assert row.consecutive_failures is not None
    return WorkItem(
        delivery_id=row.id,
        event_id=row.event_id,
        topic=row.topic,
        tenant=row.tenant,
        payload=bytes(row.payload),
        endpoint=row.endpoint,
        subscription_id=row.subscription_id,
        integration_id=row.integration_id,
        signing_keys=signing_keys,
        attempt_number=row.attempts + 1,
        endpoint_failures=row.consecutive_failures,
        endpoint_failing_since=row.failing_since,
        endpoint_headers=headers,
        trace_context=row.trace_context,
    )

"""The SQL store: one SQLAlchemy Core implementation of the storage port for SQLite,
PostgreSQL and MySQL / MariaDB.

Every method is one transaction; writes on SQLite take the write lock up front
(``BEGIN IMMEDIATE``), so threads and processes sharing the file are safe. Driver errors leave
as :class:`~acadio_webhooks.errors.StorageError` with the driver's exception as ``__cause__``
and never with bound parameters (which may hold signing secrets) in any message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, func, or_, select, text, update
from sqlalchemy.engine import URL, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError, StatementError

from acadio_webhooks.adapters.storage.secret_box import SecretBox
from acadio_webhooks.adapters.storage.sql import (
    _backlog,
    _codec,
    _lease,
    _outbox,
    _queue,
    _retention,
    _throttle,
    migrate,
)
from acadio_webhooks.adapters.storage.sql._dialect import MYSQL, family
from acadio_webhooks.adapters.storage.sql._engine import (
    WITHOUT_WAITING,
    WRITE,
    driver_transaction,
    open_engine,
)
from acadio_webhooks.adapters.storage.sql._prepared import Target
from acadio_webhooks.adapters.storage.sql.joined import JoinedCursor
from acadio_webhooks.adapters.storage.sql.schema import (
    attempts,
    deliveries,
    events,
    integrations,
    notifications,
    subscriptions,
)
from acadio_webhooks.domain import store_rules
from acadio_webhooks.domain.backlog import Backlog
from acadio_webhooks.domain.messages import Claimed, Notification, Settlement, WorkItem
from acadio_webhooks.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    Event,
    Integration,
    Subscription,
)
from acadio_webhooks.domain.retention import BatchPacer, PruneReport
from acadio_webhooks.errors import NotFound, StorageError
from acadio_webhooks.ports.storage import (
    DeliveryPlanner,
    DeliveryQuery,
    Page,
    RoutingSnapshot,
)

__all__ = ["SqlStore"]

_Result = TypeVar("_Result")

# Deleting batches (prune, erase): seconds one transaction may last, and the share of the
# time batches may take. SQLite has one write lock for the whole file, and a writer waiting
# for it sleeps 1, 2, 5, 10 ms… between tries: a 2 ms batch followed by as long a rest lets
# a waiting emit in by its second try. PostgreSQL's locks are per row; its rests leave the
# CPU and the disk to the host. Measured in benchmarks/bench_prune.py.
_DELETION_PACE: dict[str, tuple[float, float]] = {
    "sqlite": (0.002, 0.5),
    "postgresql": (0.010, 1 / 3),
}

# pg_advisory_xact_lock key serialising concurrent migrations ("acad" in ASCII).
_MIGRATION_LOCK = 0x61636164
# The same for MySQL's GET_LOCK, and how long an opener waits for another's migrations.
_MYSQL_MIGRATION_LOCK = "acadio_webhooks.migrate"
_MYSQL_MIGRATION_WAIT = 300


@contextmanager
def _mysql_lock(conn: Connection, name: str) -> Iterator[None]:
    got = conn.execute(select(func.get_lock(name, _MYSQL_MIGRATION_WAIT))).scalar()
    if got != 1:
        raise StorageError(
            f"migrating the schema failed (another opener held {name!r} for "
            f"{_MYSQL_MIGRATION_WAIT} s)"
        )
    try:
        yield
    finally:
        conn.execute(select(func.release_lock(name)))


class SqlStore:
    """A :class:`~acadio_webhooks.ports.storage.Store` on SQLite, PostgreSQL or MySQL / MariaDB.

    ``target`` is a SQLite file path, a ``sqlite:///path``, ``postgresql://…`` or
    ``mysql://…`` URL (``postgresql://`` means psycopg 3, ``mysql://`` and ``mariadb://``
    PyMySQL), or an SQLAlchemy ``Engine``: a PostgreSQL or MySQL engine is
    shared (pool included), a SQLite engine only lends its URL (the store needs its own
    transaction settings). ``create=True`` migrates the schema to the newest revision on open.

    ``secret_box`` seals integrations' signing secrets before they reach the database (see
    :mod:`acadio_webhooks.adapters.storage.secret_box`). ``sqlite_synchronous`` trades
    durability for speed: ``NORMAL`` (default) survives a crash of the application, ``FULL``
    also a power cut. ``engine_options`` go to ``sqlalchemy.create_engine``.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | URL | Engine,
        *,
        create: bool = True,
        secret_box: SecretBox | None = None,
        sqlite_busy_timeout: float = 30.0,
        sqlite_synchronous: str = "NORMAL",
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        opened = open_engine(
            target,
            sqlite_busy_timeout=sqlite_busy_timeout,
            sqlite_synchronous=sqlite_synchronous,
            engine_options=engine_options or {},
        )
        self._engine = opened.engine
        self._owns_engine = opened.owned
        self._codec = _codec.SecretCodec(secret_box)
        self._closed = False
        self._close_lock = threading.Lock()
        # Per thread: whether the next writing transaction is to give up rather than wait.
        self._unwaiting = threading.local()
        if create:
            try:
                self.migrate()
            except BaseException:
                self.close()
                raise

    @property
    def engine(self) -> Engine:
        """The engine the store runs on (for ``enqueue(connection=...)`` hosts and tooling)."""
        return self._engine

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB included)."""
        return family(self._engine.dialect)

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"SqlStore({url!r})"

    def without_waiting(self) -> AbstractContextManager[None] | None:
        """See :class:`~acadio_webhooks.ports.storage.WaitFreeCalls`: on SQLite, a block in
        which the first writing transaction of this thread raises ``WouldWait`` at once when
        another connection holds the write lock; ``None`` on PostgreSQL, whose every call
        waits on the network."""
        if self._engine.dialect.name != "sqlite":
            return None
        return self._without_waiting()

    @contextmanager
    def _without_waiting(self) -> Iterator[None]:
        self._unwaiting.armed = True
        try:
            yield
        finally:
            self._unwaiting.armed = False

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to ``revision`` (Alembic, shipped migrations), in one
        transaction; concurrent openers wait for each other instead of racing."""
        with self._transaction("migrating the schema", write=True) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            if family(conn.dialect) != MYSQL:
                migrate.upgrade(conn, revision)
                return
            # MySQL commits each DDL statement on its own: a named lock of the session keeps
            # a second opener out until every migration ran.
            with _mysql_lock(conn, _MYSQL_MIGRATION_LOCK):
                migrate.upgrade(conn, revision)

    # -- integrations and subscriptions -----------------------------------------------------

    def add_integration(self, integration: Integration) -> None:
        """Store a new integration (its id must be new)."""
        conflict = f"integration {integration.id!r} already exists"
        with self._transaction("adding an integration", write=True, conflict=conflict) as conn:
            conn.execute(integrations.insert(), _codec.integration_row(integration, self._codec))
            _queue.bump_revision(conn)

    def update_integration(self, integration: Integration) -> None:
        """Replace the integration with the same id; ``NotFound`` if there is none."""
        row = _codec.integration_row(integration, self._codec)
        with self._transaction("updating an integration", write=True) as conn:
            result = conn.execute(
                update(integrations).where(integrations.c.id == integration.id).values(row)
            )
            if result.rowcount == 0:
                raise NotFound("integration", integration.id)
            _queue.bump_revision(conn)

    def get_integration(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        with self._transaction("reading an integration") as conn:
            row = self._one(conn, integrations, integration_id, "integration")
        return self._codec.to_integration(row)

    def list_integrations(self, tenant: str | None = None) -> list[Integration]:
        """Integrations of ``tenant`` (all when None), oldest first."""
        query = select(integrations).order_by(integrations.c.created_at, integrations.c.id)
        if tenant is not None:
            query = query.where(integrations.c.tenant == tenant)
        with self._transaction("listing integrations") as conn:
            rows = conn.execute(query).mappings().all()
        return [self._codec.to_integration(row) for row in rows]

    def check_sealed_secrets(self) -> dict[str, bool]:
        """Integrations whose signing secrets are sealed, each mapped to whether this store's
        ``secret_box`` opens them (never, without a box); ``{}`` when none are sealed.

        Not part of the storage port: a start-up check for tools handed a key, so that a
        missing or wrong key shows at once rather than as deliveries that cannot be signed.
        """
        query = select(integrations.c.id, integrations.c.secrets).order_by(
            integrations.c.created_at, integrations.c.id
        )
        with self._transaction("checking sealed secrets") as conn:
            rows = conn.execute(query).all()
        checked = {row.id: self._codec.opens(row.secrets) for row in rows}
        return {ident: opens for ident, opens in checked.items() if opens is not None}

    def add_subscription(self, subscription: Subscription) -> None:
        """Store a new subscription; ``NotFound`` if its integration does not exist."""
        conflict = f"subscription {subscription.id!r} already exists"
        with self._transaction("adding a subscription", write=True, conflict=conflict) as conn:
            self._require(conn, integrations, subscription.integration_id, "integration")
            conn.execute(subscriptions.insert(), self._codec.subscription_row(subscription))
            _queue.bump_revision(conn)

    def update_subscription(self, subscription: Subscription) -> None:
        """Replace the subscription with the same id; ``NotFound`` if there is none.

        A changed rate limit starts afresh: deliveries put off for the old one come due now.
        """
        with self._transaction("updating a subscription", write=True) as conn:
            self._require(conn, integrations, subscription.integration_id, "integration")
            stored = conn.execute(
                select(subscriptions.c.rate_limit).where(subscriptions.c.id == subscription.id)
            ).first()
            if stored is not None and stored.rate_limit != subscription.rate_limit:
                _throttle.reset_throttle(conn, subscription.id)
            result = conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == subscription.id)
                .values(self._codec.subscription_row(subscription))
            )
            if result.rowcount == 0:
                raise NotFound("subscription", subscription.id)
            _queue.bump_revision(conn)

    def delete_subscription(self, subscription_id: str) -> None:
        """Remove a subscription and cancel its pending deliveries; ``NotFound`` if unknown."""
        with self._transaction("deleting a subscription", write=True) as conn:
            result = conn.execute(
                subscriptions.delete().where(subscriptions.c.id == subscription_id)
            )
            if result.rowcount == 0:
                raise NotFound("subscription", subscription_id)
            _queue.cancel_where(conn, deliveries.c.subscription_id == subscription_id, now=None)
            _queue.bump_revision(conn)

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or ``NotFound``."""
        with self._transaction("reading a subscription") as conn:
            row = self._one(conn, subscriptions, subscription_id, "subscription")
        return self._codec.to_subscription(row)

    def list_subscriptions(self, integration_id: str) -> list[Subscription]:
        """Subscriptions of one integration, oldest first."""
        query = (
            select(subscriptions)
            .where(subscriptions.c.integration_id == integration_id)
            .order_by(subscriptions.c.created_at, subscriptions.c.id)
        )
        with self._transaction("listing subscriptions") as conn:
            rows = conn.execute(query).mappings().all()
        return [self._codec.to_subscription(row) for row in rows]

    def routing_revision(self) -> int:
        """A number that changes whenever any integration or subscription changes."""
        with self._transaction("reading the routing revision") as conn:
            return _outbox.revision_of(conn, conn.dialect)

    def routes(self, tenant: str) -> RoutingSnapshot:
        """Active subscriptions of the tenant's active integrations, with the revision."""
        with self._transaction("reading routes") as conn:
            # Revision first: a change landing in between makes the routes newer than the
            # revision, so the next check rebuilds; never the other way round.
            revision = _outbox.revision_of(conn, conn.dialect)
            routes = _outbox.routes_of(conn, conn.dialect, [tenant])[tenant]
        return RoutingSnapshot(revision, routes)

    # -- the outbox -------------------------------------------------------------------------

    def enqueue(
        self,
        event: Event,
        deliveries: Sequence[Delivery],
        *,
        connection: object | None = None,
    ) -> bool:
        """Store the event and its deliveries; False (nothing stored) for a known dedup key.

        With ``connection`` (an SQLAlchemy ``Connection`` to this store's database inside
        the host's transaction, or a :class:`JoinedCursor` of the host's own DB-API
        connection) the rows are written through it and not committed. If this
        raises there, the host should roll back (PostgreSQL refuses further statements in
        that transaction anyway).
        """
        store_rules.check_batch(event.id, deliveries)
        conflict = f"event {event.id!r} or one of its deliveries already exists"
        return self._in_outbox(
            "enqueueing an event",
            conflict,
            connection,
            lambda target, dialect: _outbox.enqueue(target, dialect, event, deliveries),
        )

    def enqueue_routed(
        self,
        events: Sequence[Event],
        plan: DeliveryPlanner,
        *,
        connection: object | None = None,
    ) -> list[bool]:
        """Store ``events`` with the deliveries ``plan`` makes from the routing table as this
        transaction reads it; False for an event a dedup key suppressed.

        One transaction (or the host's, with ``connection``) reads the routing revision, the
        routes of stale tenants if ``plan`` asks, and inserts the events and all their
        deliveries with one ``executemany`` each; a single event is inserted by the statement
        that reads the revision.
        """
        if not events:
            return []
        conflict = "an event or one of its deliveries already exists"
        return self._in_outbox(
            "enqueueing events",
            conflict,
            connection,
            lambda target, dialect: _outbox.enqueue_routed(target, dialect, events, plan),
        )

    # -- the delivery queue -----------------------------------------------------------------

    def claim(
        self,
        *,
        now: datetime,
        limit: int,
        owner: str,
        lease: timedelta,
        skip_subscriptions: Collection[str] = (),
    ) -> Claimed:
        """Lease up to ``limit`` due deliveries, oldest due first; cancel inactive ones."""
        with self._transaction("claiming deliveries", write=True) as conn:
            return _queue.claim(
                conn,
                self._codec,
                now=now,
                limit=limit,
                owner=owner,
                lease=lease,
                skip_subscriptions=skip_subscriptions,
            )

    def take(
        self,
        delivery_ids: Sequence[str],
        *,
        owner: str,
        new_owner: str,
        now: datetime,
        lease: timedelta,
    ) -> list[WorkItem]:
        """Move ``owner``'s leases on ``delivery_ids`` to ``new_owner``; their work items."""
        if not delivery_ids:
            return []
        with self._transaction("taking over leases", write=True) as conn:
            return _queue.take(
                conn,
                self._codec,
                delivery_ids,
                owner=owner,
                new_owner=new_owner,
                now=now,
                lease=lease,
            )

    def settle(self, settlements: Sequence[Settlement], *, owner: str, now: datetime) -> None:
        """Record every attempt; apply the verdicts of deliveries ``owner`` still holds."""
        if not settlements:
            return
        with self._transaction("settling deliveries", write=True) as conn:
            if _queue.settle(conn, settlements, owner=owner, now=now):
                _queue.bump_revision(conn)

    def release(self, delivery_ids: Sequence[str], *, owner: str) -> None:
        """Give leases back unused: due again at once for others."""
        if not delivery_ids:
            return
        with self._transaction("releasing deliveries", write=True) as conn:
            released = conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(delivery_ids), deliveries.c.lease_owner == owner)
                .values(lease_owner=None, lease_expires_at=None)
            )
            if released.rowcount:
                _queue.notify_due(conn, conn.dialect)

    # -- views and operations ---------------------------------------------------------------

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

    def cancel_pending(
        self,
        *,
        now: datetime,
        integration_id: str | None = None,
        subscription_id: str | None = None,
    ) -> int:
        """Cancel pending deliveries of an integration or a subscription; return the count."""
        store_rules.require_target(integration_id, subscription_id)
        conditions: list[Any] = []
        with self._transaction("cancelling deliveries", write=True) as conn:
            if integration_id is not None:
                self._require(conn, integrations, integration_id, "integration")
                conditions.append(deliveries.c.integration_id == integration_id)
            if subscription_id is not None:
                self._require(conn, subscriptions, subscription_id, "subscription")
                conditions.append(deliveries.c.subscription_id == subscription_id)
            return _queue.cancel_where(conn, *conditions, now=now)

    def backlog(self, *, now: datetime) -> Backlog:
        """See :meth:`acadio_webhooks.ports.storage.BacklogView.backlog`."""
        with self._transaction("reading the backlog") as conn:
            return _backlog.read_backlog(conn, now)

    # -- failure notifications --------------------------------------------------------------

    def unsent_notifications(self, limit: int = 1000) -> list[Notification]:
        """Queued notifications not yet sent, oldest first."""
        n = notifications
        query = (
            select(n)
            .where(n.c.sent_at.is_(None))
            .order_by(n.c.created_at, n.c.id)
            .limit(max(limit, 0))
        )
        with self._transaction("reading notifications") as conn:
            rows = conn.execute(query).mappings().all()
        return [_codec.to_notification(row) for row in rows]

    def mark_notifications_sent(self, notification_ids: Sequence[str], *, now: datetime) -> None:
        """Record that these notifications went out in a notice at ``now``."""
        if not notification_ids:
            return
        with self._transaction("marking notifications sent", write=True) as conn:
            conn.execute(
                update(notifications)
                .where(notifications.c.id.in_(notification_ids))
                .values(sent_at=now)
            )

    def last_notice_at(self, integration_id: str) -> datetime | None:
        """When the integration was last sent a notice, for rate limiting."""
        n = notifications
        query = select(func.max(n.c.sent_at)).where(n.c.integration_id == integration_id)
        with self._transaction("reading the last notice time") as conn:
            last: datetime | None = conn.execute(query).scalar()
        return last

    # -- retention --------------------------------------------------------------------------

    def prune(
        self, before: datetime, *, limit: int = 500, dry_run: bool = False
    ) -> Iterator[PruneReport]:
        """See :meth:`acadio_webhooks.ports.storage.Retention.prune`."""
        store_rules.check_prune(before, limit)
        return self._pruned(before, limit, dry_run)

    def _pruned(self, before: datetime, limit: int, dry_run: bool) -> Iterator[PruneReport]:
        after: _retention.Cursor | None = None

        def history(conn: Connection, size: int) -> tuple[PruneReport | None, bool]:
            nonlocal after
            report, after = _retention.prune_events(conn, before, after, size, dry_run=dry_run)
            return report, after is not None

        def notices(conn: Connection, size: int) -> tuple[PruneReport | None, bool]:
            report = _retention.prune_notifications(conn, before, size, dry_run=dry_run)
            return report, not dry_run and report.notifications == size

        yield from self._in_batches("pruning history", limit, dry_run, history)
        yield from self._in_batches("pruning sent notices", limit, dry_run, notices)

    def erase(
        self,
        *,
        subject: str | None = None,
        tenant: str | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> Iterator[PruneReport]:
        """See :meth:`acadio_webhooks.ports.storage.Retention.erase`."""
        store_rules.check_erase(subject, tenant, limit)
        return self._erased(subject, tenant, limit, dry_run)

    def _erased(
        self, subject: str | None, tenant: str | None, limit: int, dry_run: bool
    ) -> Iterator[PruneReport]:
        counted = 0  # a dry run deletes nothing: its next batch steps over what it counted

        def batch(conn: Connection, size: int) -> tuple[PruneReport | None, bool]:
            nonlocal counted
            report = _retention.erase_events(
                conn, subject=subject, tenant=tenant, limit=size, dry_run=dry_run, skip=counted
            )
            counted += report.examined if dry_run else 0
            return (report, True) if report.examined else (None, False)

        yield from self._in_batches("erasing history", limit, dry_run, batch)

    def _in_batches(
        self,
        what: str,
        limit: int,
        dry_run: bool,
        batch: Callable[[Connection, int], tuple[PruneReport | None, bool]],
    ) -> Iterator[PruneReport]:
        """``batch(conn, size)`` in one transaction after another, while it says more follow;
        each report it gives yielded. Deleting batches are paced (``BatchPacer``): short
        enough that the host's writes hardly wait behind one, with rests between them."""
        if dry_run:
            pacer = BatchPacer(limit)
        else:
            budget, share = _DELETION_PACE.get(self.dialect, _DELETION_PACE["postgresql"])
            pacer = BatchPacer(limit, budget=budget, share=share)
        more = True
        while more:
            with self._transaction(what, write=not dry_run) as conn:
                began = time.perf_counter()
                report, more = batch(conn, pacer.size)
            rest = pacer.after(time.perf_counter() - began)
            if report is not None:
                yield report
            if more and rest:
                time.sleep(rest)

    # -- named leases -----------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
        """Hold ``name`` for ``owner`` until ``now + ttl`` if it is free, expired or ours."""
        store_rules.check_lease(name, owner, now=now, ttl=ttl)
        with self._transaction("acquiring a lease", write=True) as conn:
            return _lease.acquire(conn, name, owner, now=now, ttl=ttl)

    def release_lease(self, name: str, owner: str) -> None:
        """Give ``name`` up if ``owner`` holds it; otherwise do nothing."""
        store_rules.check_lease(name, owner)
        with self._transaction("releasing a lease", write=True) as conn:
            _lease.release(conn, name, owner)

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Release the store's connections (a shared host engine stays open). Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        if self._owns_engine:
            self._engine.dispose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    # -- internals --------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed")

    @contextmanager
    def _transaction(
        self,
        what: str,
        *,
        write: bool = False,
        conflict: str | None = None,
        joining: object | None = None,
    ) -> Iterator[Connection]:
        """One transaction; driver errors leave as ``StorageError("<what> failed …")``.

        ``joining``: a host's ``Connection`` inside its own transaction, used as it is —
        neither begun nor committed here (the transactional outbox)."""
        if joining is not None and not isinstance(joining, Connection):
            kind = type(joining).__name__
            hint = (
                " (an AsyncConnection or AsyncSession joins through AsyncDispatcher.emit)"
                if kind in ("AsyncConnection", "AsyncSession")
                else ""
            )
            raise TypeError(f"connection must be an SQLAlchemy Connection, not {kind}{hint}")
        self._check_open()
        try:
            if joining is not None:
                yield joining
                return
            with self._engine.connect() as conn:
                if write:
                    unwaiting = getattr(self._unwaiting, "armed", False)
                    # Only the first: a later transaction of the same call may have been
                    # preceded by one that committed, and must not give up halfway.
                    self._unwaiting.armed = False
                    conn.execution_options(**{WRITE: True, WITHOUT_WAITING: unwaiting})
                with conn.begin():
                    yield conn
        except (SQLAlchemyError, UnicodeEncodeError) as exc:
            # The drivers encode text themselves and let a lone surrogate escape as a codec
            # error rather than a database one.
            raise _storage_error(what, exc, conflict) from exc

    def _in_outbox(
        self,
        what: str,
        conflict: str,
        joining: object | None,
        work: Callable[[Target, Dialect], _Result],
    ) -> _Result:
        """``work`` on the host's connection (see ``_transaction``) or cursor (``JoinedCursor``:
        its statements run on it as they are), else in a transaction of
        the store's own on the driver itself (``driver_transaction``: the emit path, which
        runs ``work`` again when the pool lent a connection the database had closed), with the
        dialect to prepare statements for; driver errors leave as ``StorageError`` either way.
        """
        if joining is not None and not isinstance(joining, JoinedCursor):
            with self._transaction(what, write=True, conflict=conflict, joining=joining) as conn:
                return work(conn, conn.dialect)
        self._check_open()
        dialect = self._engine.dialect
        try:
            if isinstance(joining, JoinedCursor):
                return work(joining.cursor, dialect)
            return driver_transaction(self._engine, lambda cursor: work(cursor, dialect))
        except (SQLAlchemyError, UnicodeEncodeError) as exc:  # the pool's own, on checkout
            raise _storage_error(what, exc, conflict) from exc
        except dialect.loaded_dbapi.Error as exc:
            raise _driver_error(what, exc, conflict, dialect) from exc

    @staticmethod
    def _one(conn: Connection, table: Any, ident: str, kind: str) -> Mapping[Any, Any]:
        row = conn.execute(select(table).where(table.c.id == ident)).mappings().first()
        if row is None:
            raise NotFound(kind, ident)
        return row

    @staticmethod
    def _require(conn: Connection, table: Any, ident: str, kind: str) -> None:
        if (
            conn.execute(select(text("1")).select_from(table).where(table.c.id == ident)).first()
            is None
        ):
            raise NotFound(kind, ident)


def _driver_error(what: str, exc: Exception, conflict: str | None, dialect: Any) -> StorageError:
    """``_storage_error`` for an error the driver raised outside SQLAlchemy."""
    if conflict is not None and isinstance(exc, dialect.loaded_dbapi.IntegrityError):
        return StorageError(conflict)
    return StorageError(f"{what} failed ({type(exc).__name__})")


def _storage_error(
    what: str, exc: SQLAlchemyError | UnicodeEncodeError, conflict: str | None
) -> StorageError:
    """A parameter-free message for a driver error (its bound values may be secrets)."""
    if isinstance(exc, UnicodeEncodeError):
        return StorageError(f"{what} failed (text with a character UTF-8 cannot encode)")
    if isinstance(exc, StatementError):
        exc.hide_parameters = True
    if conflict is not None and isinstance(exc, IntegrityError):
        return StorageError(conflict)
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    return StorageError(f"{what} failed ({type(cause).__name__})")

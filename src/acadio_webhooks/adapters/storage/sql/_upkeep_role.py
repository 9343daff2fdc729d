"""The SQL store's notice queue, retention and leases roles."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update

from acadio_webhooks.adapters.storage.sql import _codec, _lease, _retention
from acadio_webhooks.adapters.storage.sql._store_base import SqlBase
from acadio_webhooks.adapters.storage.sql.schema import notifications
from acadio_webhooks.domain import store_rules
from acadio_webhooks.domain.messages import Notification
from acadio_webhooks.domain.retention import BatchPacer, PruneReport

__all__ = ["UpkeepRole"]

# Deleting batches (prune, erase): seconds one transaction may last, and the share of the
# time batches may take. SQLite has one write lock for the whole file, and a writer waiting
# for it sleeps 1, 2, 5, 10 ms… between tries: a 2 ms batch followed by as long a rest lets
# a waiting emit in by its second try. PostgreSQL's locks are per row; its rests leave the
# CPU and the disk to the host. Measured in benchmarks/bench_prune.py.
_DELETION_PACE: dict[str, tuple[float, float]] = {
    "sqlite": (0.002, 0.5),
    "postgresql": (0.010, 1 / 3),
}


class UpkeepRole(SqlBase):
    """Failure notices, prune and erase in paced batches, and named leases, in SQL."""

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

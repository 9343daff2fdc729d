"""The memory store's notice queue, retention and leases roles."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from acadio_webhooks.adapters.storage.memory._base import MemoryBase, _Lease
from acadio_webhooks.domain.messages import Notification
from acadio_webhooks.domain.models import Delivery
from acadio_webhooks.domain.retention import FINAL_STATUSES, PruneReport
from acadio_webhooks.domain.store_rules import check_erase, check_lease, check_prune

__all__ = ["UpkeepPart"]


class UpkeepPart(MemoryBase):
    """Failure notices, prune and erase, and named leases, in memory."""

    def unsent_notifications(self, limit: int = 1000) -> list[Notification]:
        """Queued notifications not yet sent, oldest first."""
        with self._lock:
            self._check_open()
            unsent = [n for n in self._notifications.values() if n.id not in self._sent_at]
        return sorted(unsent, key=lambda n: (n.created_at, n.id))[: max(limit, 0)]

    def mark_notifications_sent(self, notification_ids: Sequence[str], *, now: datetime) -> None:
        """Record that these notifications went out in a notice at ``now``."""
        with self._lock:
            self._check_open()
            for notification_id in notification_ids:
                if notification_id in self._notifications:
                    self._sent_at[notification_id] = now

    def last_notice_at(self, integration_id: str) -> datetime | None:
        """When the integration was last sent a notice, for rate limiting."""
        with self._lock:
            self._check_open()
            times = [
                self._sent_at[n.id]
                for n in self._notifications.values()
                if n.integration_id == integration_id and n.id in self._sent_at
            ]
        return max(times, default=None)

    # -- retention --------------------------------------------------------------------------

    def prune(
        self, before: datetime, *, limit: int = 500, dry_run: bool = False
    ) -> Iterator[PruneReport]:
        """See :meth:`acadio_webhooks.ports.storage.Retention.prune`."""
        check_prune(before, limit)
        return self._pruned(before, limit, dry_run)

    def _pruned(self, before: datetime, limit: int, dry_run: bool) -> Iterator[PruneReport]:
        after: tuple[datetime, str] | None = None
        while True:
            with self._lock:
                self._check_open()
                report, after = self._prune_events(before, after, limit, dry_run)
            yield report
            if after is None:
                break
        with self._lock:
            self._check_open()
            sent = sorted((when, ident) for ident, when in self._sent_at.items() if when < before)
            if not dry_run:
                for _, ident in sent:
                    del self._sent_at[ident]
                    del self._notifications[ident]
        yield PruneReport(notifications=len(sent), dry_run=dry_run)

    def _prune_events(
        self, before: datetime, after: tuple[datetime, str] | None, limit: int, dry_run: bool
    ) -> tuple[PruneReport, tuple[datetime, str] | None]:
        old = sorted(
            (event.created_at, event.id)
            for event in self._events.values()
            if event.created_at < before and (after is None or (event.created_at, event.id) > after)
        )[:limit]
        if not old:
            return PruneReport(dry_run=dry_run), None
        examined = {ident for _, ident in old}
        theirs: dict[str, list[Delivery]] = {}
        for delivery in self._deliveries.values():
            if delivery.event_id in examined:
                theirs.setdefault(delivery.event_id, []).append(delivery)
        going = [
            ident
            for _, ident in old
            if all(
                d.status in FINAL_STATUSES and d.updated_at < before for d in theirs.get(ident, ())
            )
        ]
        gone_deliveries = [d.id for ident in going for d in theirs.get(ident, ())]
        report = self._delete_events(going, gone_deliveries, dry_run=dry_run)
        report = replace(report, examined=len(old))
        return report, old[-1] if len(old) == limit else None

    def _delete_events(
        self, going: Sequence[str], their_deliveries: Sequence[str], *, dry_run: bool
    ) -> PruneReport:
        """Delete events ``going`` with ``their_deliveries`` (none pending) and attempts."""
        gone_attempts = sum(len(self._attempts.get(ident, ())) for ident in their_deliveries)
        if not dry_run:
            for delivery_id in their_deliveries:
                for attempt in self._attempts.pop(delivery_id, ()):
                    self._attempt_ids.discard(attempt.id)
                del self._deliveries[delivery_id]
                self._reserved.discard(delivery_id)
            for ident in going:
                event = self._events.pop(ident)
                if event.dedup_key is not None:
                    self._dedup.pop((event.tenant, event.dedup_key), None)
        return PruneReport(
            events=len(going),
            deliveries=len(their_deliveries),
            attempts=gone_attempts,
            dry_run=dry_run,
        )

    def erase(
        self,
        *,
        subject: str | None = None,
        tenant: str | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> Iterator[PruneReport]:
        """See :meth:`acadio_webhooks.ports.storage.Retention.erase`."""
        check_erase(subject, tenant, limit)
        return self._erased(subject, tenant, limit, dry_run)

    def _erased(
        self, subject: str | None, tenant: str | None, limit: int, dry_run: bool
    ) -> Iterator[PruneReport]:
        counted = 0  # a dry run deletes nothing: its next batch steps over what it counted
        while True:
            with self._lock:
                self._check_open()
                going = sorted(
                    e.id
                    for e in self._events.values()
                    if (subject is not None and e.subject == subject)
                    or (tenant is not None and e.tenant == tenant)
                )[counted : counted + limit]
                if not going:
                    return
                wanted = set(going)
                theirs = [d.id for d in self._deliveries.values() if d.event_id in wanted]
                notices = [
                    ident
                    for ident, notice in self._notifications.items()
                    if notice.event_id in wanted
                ]
                if not dry_run:
                    # Out of the queue and its leases first; deleted with the rest below.
                    self._cancel([i for i in theirs if i in self._pending], now=None)
                    for ident in notices:
                        del self._notifications[ident]
                        self._sent_at.pop(ident, None)
                report = self._delete_events(going, theirs, dry_run=dry_run)
            yield replace(report, notifications=len(notices), examined=len(going))
            if dry_run:
                counted += len(going)

    # -- named leases -----------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
        """Hold ``name`` for ``owner`` until ``now + ttl`` if it is free, expired or ours."""
        check_lease(name, owner, now=now, ttl=ttl)
        with self._lock:
            self._check_open()
            held = self._named_leases.get(name)
            if held is not None and held.owner != owner and held.expires_at > now:
                return False
            self._named_leases[name] = _Lease(owner, now + ttl)
            return True

    def release_lease(self, name: str, owner: str) -> None:
        """Give ``name`` up if ``owner`` holds it; otherwise do nothing."""
        check_lease(name, owner)
        with self._lock:
            self._check_open()
            held = self._named_leases.get(name)
            if held is not None and held.owner == owner:
                del self._named_leases[name]

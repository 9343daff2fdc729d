"""Pruning by itself: a worker (or a Celery beat task) deletes history past the retention period.

:class:`Pruner` runs the store's batched prune
(:meth:`~acadio_webhooks.ports.storage.retention.Retention.prune`) under the store's named lease
:data:`PRUNE_LEASE`, taken for ``interval``: while one pruner holds it, every other pruner
sharing the store (threads, processes, hosts) returns at once, so a fleet prunes once per
interval, whichever worker gets there first, and a worker restarted meanwhile does not prune
again. The holder renews the lease before each batch and stops as soon as it lost it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from acadio_webhooks._lease_owner import LeaseOwner
from acadio_webhooks.domain.retention import PruneReport, prune_cutoff
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.storage import Leases, Retention

__all__ = [
    "PruneStore",
    "PRUNE_LEASE",
    "DEFAULT_RETENTION",
    "DEFAULT_PRUNE_INTERVAL",
    "Pruner",
    "check_pruning_settings",
]

_log = logging.getLogger("acadio_webhooks.pruning")


class PruneStore(Retention, Leases, Protocol):
    """The store roles a pruner uses: retention, and a lease so that a fleet prunes once."""


PRUNE_LEASE = "acadio_webhooks.prune"
"""The name of the store lease a pruner holds from one prune to the next."""

DEFAULT_RETENTION = timedelta(days=30)
"""How long delivery history is kept by default: the delivery log shows a month."""

DEFAULT_PRUNE_INTERVAL = timedelta(hours=1)
"""How often a fleet prunes by default: little to delete each time, never a long backlog."""


_ZERO = timedelta(0)


def check_pruning_settings(
    retention: timedelta | None, interval: timedelta, batch_size: int
) -> None:
    """Raise ``ValueError`` naming the setting that cannot work (``retention`` may be None)."""
    if retention is not None and not _positive_duration(retention):
        raise ValueError(f"retention must be a positive timedelta or None, not {retention!r}")
    if not _positive_duration(interval):
        raise ValueError(f"prune interval must be a positive timedelta, not {interval!r}")
    if batch_size < 1:
        raise ValueError(f"prune batch size must be at least 1, not {batch_size}")


def _positive_duration(value: object) -> bool:
    # ``object``: a number passed by mistake gets this error, not a failed comparison.
    return isinstance(value, timedelta) and value > _ZERO


class Pruner:
    """Deletes history older than ``retention`` in batches, one pruner of a fleet at a time.

    :meth:`prune` takes the store's lease :data:`PRUNE_LEASE` for ``interval``; while any
    pruner holds it (the one that pruned last, until ``interval`` after its last batch),
    the others' calls return None at once. Each batch of ``batch_size`` events is one short
    transaction.
    """

    def __init__(
        self,
        store: PruneStore,
        *,
        retention: timedelta,
        clock: Clock | None = None,
        interval: timedelta = DEFAULT_PRUNE_INTERVAL,
        batch_size: int = 500,
        owner: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        check_pruning_settings(retention, interval, batch_size)
        self.store = store
        self.retention = retention
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.interval = interval
        self.batch_size = batch_size
        self._owner = LeaseOwner(owner)
        self._log = logger if logger is not None else _log
        # The store lease lets every thread of one owner in: keep this pruner's own apart.
        self._pruning = threading.Lock()

    @property
    def owner(self) -> str:
        """This pruner's name as the lease holder (as for the notice flusher)."""
        return self._owner.name

    def prune(self, *, keep_going: Callable[[], bool] = lambda: True) -> PruneReport | None:
        """Delete what is past retention now; None when another pruner holds the lease.

        ``keep_going`` is asked after each batch: a worker that is stopping ends the prune
        there (what was deleted stays deleted; the rest waits for the next prune). Store
        errors (:class:`~acadio_webhooks.errors.StorageError`) propagate; the batches
        committed before stay done.
        """
        if not self._pruning.acquire(blocking=False):
            return None
        try:
            return self._prune(keep_going)
        finally:
            self._pruning.release()

    def _prune(self, keep_going: Callable[[], bool]) -> PruneReport | None:
        if not self._renew():
            self._log.debug("another pruner holds the %s lease; not pruning", PRUNE_LEASE)
            return None
        total = PruneReport()
        cutoff = prune_cutoff(self.clock.now(), self.retention)
        batches = self.store.prune(cutoff, limit=self.batch_size)
        started = time.monotonic()
        for count, batch in enumerate(batches, start=1):
            total += batch
            if not keep_going():
                self._log.info("stopping: pruning ends after %d batches", count)
                break
            if not self._renew():
                self._log.warning(
                    "lost the %s lease after %d batches (one took longer than %s?); "
                    "the pruner that took it over goes on",
                    PRUNE_LEASE,
                    count,
                    self.interval,
                )
                break
        if total.events or total.notifications:
            self._log.info(
                "pruned history older than %s in %.1f s: %d events, %d deliveries, "
                "%d attempts, %d sent notifications",
                self.retention,
                time.monotonic() - started,
                total.events,
                total.deliveries,
                total.attempts,
                total.notifications,
            )
        return total

    def _renew(self) -> bool:
        return self.store.acquire_lease(
            PRUNE_LEASE, self.owner, now=self.clock.now(), ttl=self.interval
        )

    def __repr__(self) -> str:
        return (
            f"Pruner(retention={self.retention}, interval={self.interval}, "
            f"batch_size={self.batch_size}, owner={self.owner!r})"
        )

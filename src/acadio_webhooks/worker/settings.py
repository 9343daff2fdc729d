"""How a worker paces itself (:class:`WorkerSettings`) and what one drain did
(:class:`DrainReport`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from acadio_webhooks.domain.messages import Settlement
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.notices import DEFAULT_NOTICE_GRACE, DEFAULT_NOTICE_WINDOW
from acadio_webhooks.notify import DEFAULT_NOTICE_LEASE
from acadio_webhooks.pruning import (
    DEFAULT_PRUNE_INTERVAL,
    DEFAULT_RETENTION,
    check_pruning_settings,
)


@dataclass(frozen=True, kw_only=True)
class UpkeepSettings:
    """What every kind of worker does beside delivering: flushing failure notices and pruning
    old history (see :class:`WorkerSettings` for each field). Keyword-only; the Celery
    settings share them."""

    notify_interval: float = 30.0
    notice_window: timedelta = DEFAULT_NOTICE_WINDOW
    notice_grace: timedelta = DEFAULT_NOTICE_GRACE
    notice_lease: timedelta = DEFAULT_NOTICE_LEASE
    retention: timedelta | None = DEFAULT_RETENTION
    prune_interval: timedelta = DEFAULT_PRUNE_INTERVAL
    prune_batch_size: int = 500

    def __post_init__(self) -> None:
        if self.notify_interval <= 0 or self.notice_lease <= timedelta(0):
            raise ValueError("notify_interval and notice_lease must be positive")
        check_pruning_settings(self.retention, self.prune_interval, self.prune_batch_size)


@dataclass(frozen=True)
class WorkerSettings(UpkeepSettings):
    """How a worker paces itself.

    * ``concurrency`` — attempts in flight at once (async worker; threads for the sync one).
      The async worker holds up to four times as many deliveries claimed (in flight plus
      queued), so the next claim comes back before the lanes run dry.
    * ``per_endpoint`` — attempts in flight at once to one endpoint URL, so one slow
      receiver cannot take every slot; the async worker holds up to four times as many of
      one subscription's deliveries.
    * ``batch_size`` — deliveries claimed, and settlements written, per store round-trip.
    * ``lease`` — how long a claimed delivery stays reserved; a worker that dies loses
      nothing: its deliveries are claimable again when the lease runs out. Keep it well above
      the transport's total timeout.
    * ``poll_interval`` — seconds an idle worker waits before looking for due work again
      (emits in the same process and database notifications wake it sooner).
    * ``settle_interval`` — seconds a finished attempt may wait to be written with others.
    * ``notify_interval`` — seconds between flushes of queued failure notices.
    * ``notice_window`` / ``notice_grace`` — an integration gets at most one failure e-mail
      per window, sent once its oldest unsent notification is ``notice_grace`` old (see
      :func:`acadio_webhooks.domain.notices.plan_notices`).
    * ``notice_lease`` — how long the worker's notice flusher holds the store's notice lease
      without renewing it: while it flushes, other workers' flushers wait, so a fleet mails
      each notice once; one killed mid-flush holds up notices for at most this long (see
      :class:`acadio_webhooks.notify.NotificationFlusher`).
    * ``retention`` — how long delivery history is kept: a running worker deletes events
      older than this whose deliveries are all final, with their deliveries and attempts
      (see :meth:`acadio_webhooks.Dispatcher.prune`). Default 30 days; ``None`` keeps
      everything (then prune with ``acadio-webhooks prune`` or not at all).
    * ``prune_interval`` — how often a fleet prunes: one worker at a time, under the store's
      lease (:class:`acadio_webhooks.pruning.Pruner`); a worker tries when it starts and
      then once per interval.
    * ``prune_batch_size`` — events deleted per transaction while pruning.
    """

    concurrency: int = 50
    per_endpoint: int = 10
    batch_size: int = 100
    lease: timedelta = timedelta(minutes=5)
    poll_interval: float = 1.0
    settle_interval: float = 0.02

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.concurrency < 1 or self.per_endpoint < 1 or self.batch_size < 1:
            raise ValueError("concurrency, per_endpoint and batch_size must be >= 1")


@dataclass
class DrainReport:
    """What one ``drain()`` did."""

    attempts: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    notices: int = 0

    def add(self, settlements: Sequence[Settlement]) -> None:
        """Count settled attempts."""
        for settlement in settlements:
            self.attempts += 1
            if settlement.status is DeliveryStatus.DELIVERED:
                self.delivered += 1
            elif settlement.status is DeliveryStatus.FAILED:
                self.failed += 1
            else:
                self.retried += 1

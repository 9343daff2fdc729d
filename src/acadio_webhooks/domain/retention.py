"""Retention: which stored history may be deleted, and what deleting it took.

An event may go once it is older than the retention period *and* none of its deliveries can
still change: every one is final (delivered, failed or cancelled) and was last changed before
the same cut-off. A pending delivery keeps its event whatever its age, and so does one that
reached its verdict recently (a back-dated event, a resend), so that the delivery log shows
everything for at least the retention period after it happened. Sent failure notices go once
they were sent before the cut-off; unsent ones always stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from acadio_webhooks.domain.models import DeliveryStatus

__all__ = ["FINAL_STATUSES", "BatchPacer", "PruneReport", "prune_cutoff"]

FINAL_STATUSES = frozenset(
    {DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.CANCELLED}
)
"""Statuses a delivery never leaves (a resend makes a new delivery)."""


@dataclass(frozen=True)
class PruneReport:
    """What a prune deleted or, for a dry run, would delete.

    ``events``, ``deliveries`` and ``attempts`` count the history rows; ``notifications`` the
    sent failure notices; ``examined`` the events old enough that were looked at (the ones
    kept because a delivery can still change included).
    """

    events: int = 0
    deliveries: int = 0
    attempts: int = 0
    notifications: int = 0
    examined: int = 0
    dry_run: bool = False

    def __add__(self, other: PruneReport) -> PruneReport:
        if not isinstance(other, PruneReport):
            return NotImplemented
        return PruneReport(
            events=self.events + other.events,
            deliveries=self.deliveries + other.deliveries,
            attempts=self.attempts + other.attempts,
            notifications=self.notifications + other.notifications,
            examined=self.examined + other.examined,
            dry_run=self.dry_run or other.dry_run,
        )


def prune_cutoff(now: datetime, older_than: timedelta) -> datetime:
    """The moment before which history is old enough to go; ``older_than`` must be positive."""
    if not isinstance(older_than, timedelta):
        raise TypeError(f"older_than must be a timedelta, not {type(older_than).__name__}")
    if older_than <= timedelta(0):
        raise ValueError(f"older_than must be positive, not {older_than}")
    return now - older_than


@dataclass
class BatchPacer:
    """Paces a long deletion done in batches so that the host's own writes hardly notice it.

    Each batch is sized so that its transaction lasts about ``budget`` seconds: a writer that
    has to wait for it (SQLite has one write lock for the whole file) waits that long at
    most. Sizes start at ``smallest`` and at most double or halve from one batch to the next,
    never above ``limit`` (the caller's bound) nor below ``smallest``. After each batch it
    rests, so that batches take at most ``share`` of the time and the database is left to
    the host the rest of it. ``budget=None`` and ``share=1.0``: every batch is ``limit``
    long and none rests (a dry run, which writes nothing).
    """

    limit: int
    budget: float | None = None
    share: float = 1.0
    smallest: int = 16
    size: int = field(init=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"share must be in (0, 1], not {self.share}")
        if self.budget is not None and self.budget <= 0:
            raise ValueError(f"budget must be positive, not {self.budget}")
        self.size = self.limit if self.budget is None else min(self.limit, self.smallest)

    def after(self, took: float) -> float:
        """Note that the last batch (``size`` long) held its transaction ``took`` seconds;
        the seconds to rest before the next one. ``size`` is then the next batch's."""
        if self.budget is not None and took > 0:
            wanted = self.size * self.budget / took
            bounded = max(self.size / 2, min(wanted, self.size * 2.0))
            self.size = max(1, min(self.limit, max(self.smallest, int(bounded))))
        return took * (1.0 - self.share) / self.share

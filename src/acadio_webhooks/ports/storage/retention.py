"""The retention role: deleting old history (prune) and everything about someone (erase)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.retention import PruneReport

__all__ = ["Retention"]


@runtime_checkable
class Retention(Protocol):
    """What :mod:`acadio_webhooks.pruning`, ``Dispatcher.prune`` and ``Dispatcher.erase`` use."""

    def prune(
        self, before: datetime, *, limit: int = 500, dry_run: bool = False
    ) -> Iterator[PruneReport]:
        """Delete the history :mod:`~acadio_webhooks.domain.retention` lets go at ``before``:
        events created before it whose deliveries are all final and last changed before it,
        with those deliveries and their attempts; then failure notices sent before it.

        Lazily, one short transaction per item yielded: each examines at most ``limit`` old
        events (or deletes at most ``limit`` notices) and yields what it deleted. Stopping the
        iteration early leaves a consistent, partly pruned store. ``dry_run`` deletes nothing
        and yields what would go. A pending delivery is never deleted, nor its event.
        """
        ...

    def erase(
        self,
        *,
        subject: str | None = None,
        tenant: str | None = None,
        limit: int = 500,
        dry_run: bool = False,
    ) -> Iterator[PruneReport]:
        """Delete every event whose ``subject`` (or ``tenant``: exactly one is given) is the
        one given, whatever its age or state: its deliveries (pending ones cancelled first,
        so no worker claims them meanwhile), their attempts and the failure notices naming
        the event. Afterwards no row holds the events' ids, payloads or the subject.

        Lazily, one short transaction per item yielded, each deleting at most ``limit``
        events and yielding what it deleted (``examined``: the events it found). An attempt
        in flight when its delivery goes is not recorded (:meth:`DeliveryQueue.settle
        <acadio_webhooks.ports.storage.queue.DeliveryQueue.settle>` skips it).
        ``dry_run`` deletes nothing and yields what would go.
        """
        ...

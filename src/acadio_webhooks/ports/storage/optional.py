"""Optional store capabilities the worker and the metrics use when a store offers them."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.backlog import Backlog

__all__ = ["BacklogView", "WouldWait", "WaitFreeCalls"]


@runtime_checkable
class BacklogView(Protocol):
    """Optional: a store that can say what waits in it, for the backlog gauges
    (:mod:`acadio_webhooks.observability`). Both built-in stores are one."""

    def backlog(self, *, now: datetime) -> Backlog:
        """Counts of pending, due and in-flight deliveries, the oldest due time, and the
        subscriptions by state, at ``now``. Read on every scrape: it reads the pending
        deliveries (through the due index of a SQL store) and the subscriptions, so its cost
        grows with the backlog, not with the history."""
        ...


class WouldWait(Exception):
    """A store call made inside :meth:`WaitFreeCalls.without_waiting` would have had to wait
    for another writer; raised before the call changed anything."""


@runtime_checkable
class WaitFreeCalls(Protocol):
    """Optional: a store whose calls finish at the speed of local I/O unless another writer
    holds the database (SQLite on a local file).

    Waiting for a thread costs more than such a call (each hop hands the interpreter lock
    between the event loop and the thread, and a busy loop holds it for milliseconds), so the
    async worker makes the call on the event loop inside :meth:`without_waiting`, and only
    when that raises :class:`WouldWait` makes it again in a thread, where waiting for the
    lock blocks nothing else.
    """

    def without_waiting(self) -> AbstractContextManager[None] | None:
        """A block in which the first writing transaction this thread begins raises
        :class:`WouldWait` at once, before changing anything, instead of waiting for a lock
        held elsewhere; ``None`` when this store's calls wait on the network anyway (a
        database server) and belong in a thread."""
        ...

"""The leases role: named leases that elect one holder across threads and processes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Leases"]


@runtime_checkable
class Leases(Protocol):
    """Named leases: the notice flusher, the pruner and the Celery pump take one so that a
    fleet does each job once."""

    def acquire_lease(self, name: str, owner: str, *, now: datetime, ttl: timedelta) -> bool:
        """Hold the lease ``name`` for ``owner`` until ``now + ttl``; True if ``owner`` now
        holds it.

        Taken when nobody holds it, when the holder's lease expired (``expires_at <= now``),
        or when ``owner`` already holds it (then it is renewed: the expiry moves to
        ``now + ttl``). Atomic: of concurrent callers with different owners, at most one gets
        True while the lease holds. The failure-notice flusher takes one so that a fleet mails
        each notice once. ``ValueError`` for an empty or over-long (> 255 characters) name or
        owner, a naive ``now`` or a ``ttl`` that is not positive.
        """
        ...

    def release_lease(self, name: str, owner: str) -> None:
        """Give the lease ``name`` up if ``owner`` holds it (expired or not); otherwise do
        nothing: a holder whose lease expired and was taken over cannot release the new
        holder's."""
        ...

"""The delivery queue role: what workers claim, take, settle and release."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.messages import Claimed, Settlement, WorkItem

__all__ = ["DeliveryQueue"]


@runtime_checkable
class DeliveryQueue(Protocol):
    """The due deliveries, leased to one worker at a time: what
    :class:`~acadio_webhooks.worker.AsyncWorker`, :class:`~acadio_webhooks.worker.SyncWorker`
    and the Celery tasks use."""

    def claim(
        self,
        *,
        now: datetime,
        limit: int,
        owner: str,
        lease: timedelta,
        skip_subscriptions: Collection[str] = (),
    ) -> Claimed:
        """Lease up to ``limit`` due deliveries to ``owner`` until ``now + lease``.

        Due: pending, ``next_attempt_at <= now``, no unexpired lease, and the subscription
        not paused by the circuit breaker (``paused_until`` unset or past). Deliveries whose
        integration or subscription is inactive are cancelled instead of returned. Two
        concurrent claimers never receive the same delivery while its lease holds (PostgreSQL:
        ``FOR UPDATE SKIP LOCKED``; SQLite: one writer at a time). Oldest due first.

        ``skip_subscriptions``: leave these subscriptions' deliveries for later (a worker
        whose slots for an endpoint are full asks for other endpoints' work instead).

        Rate limits (:attr:`Subscription.rate_limit`): a due delivery its endpoint's limit
        does not let go now is put off, still pending and not attempted, to the time it may
        (see :mod:`acadio_webhooks.domain.rate_limit`); the limiter's state is kept in the
        store, so every claimer shares it. The result's ``resume_at`` says when the first
        delivery put off comes due (or ``now`` if the claim stopped before the end of the
        due backlog).
        """
        ...

    def take(
        self,
        delivery_ids: Sequence[str],
        *,
        owner: str,
        new_owner: str,
        now: datetime,
        lease: timedelta,
    ) -> list[WorkItem]:
        """Move the leases ``owner`` still holds on ``delivery_ids`` to ``new_owner`` until
        ``now + lease``, atomically, and return their work items (due order).

        Deliveries ``owner`` no longer holds (settled, released, or already taken — by a
        duplicate of the same broker message, say) are left alone and not returned; those of
        an inactive integration or subscription are cancelled. This is how a task queue
        hands one claimed delivery to exactly one task: the pump claims, each task takes.
        """
        ...

    def settle(self, settlements: Sequence[Settlement], *, owner: str, now: datetime) -> None:
        """Apply attempt verdicts atomically: record each attempt, update each delivery
        (status, attempts, next attempt, last status/error; lease cleared) and its
        subscription's health (consecutive failures and failing-since reset on success),
        disable subscriptions named in ``disable_subscription`` (cancelling their pending
        deliveries), and queue the notifications. A delivery whose lease ``owner`` no longer
        holds still gets its attempt recorded, but its state is left to the new holder. A
        delivery that no longer exists (erased while its attempt was in flight) is skipped.

        Idempotent per attempt (``Attempt.id``): a settlement whose attempt is already
        recorded is skipped whole, so a settle retried after its commit went through but the
        acknowledgement was lost records each attempt, verdict and notification once.
        """
        ...

    def release(self, delivery_ids: Sequence[str], *, owner: str) -> None:
        """Give leases back unused (graceful shutdown): due again at once for others."""
        ...

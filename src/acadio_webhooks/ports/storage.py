"""The storage port: one small interface every store adapter implements.

Adapters: :class:`acadio_webhooks.adapters.storage.memory.MemoryStore` (tests, quick starts)
and :class:`acadio_webhooks.adapters.storage.sql.SqlStore` (SQLite, the embedded default, and
PostgreSQL). All pass the same contract suite, ``tests/contract/``.

Everything here is synchronous: SQL drivers are, and the async worker calls the store from a
worker thread in batches, so one interface serves sync and async hosts. A store whose calls
never wait on I/O may say so with a class attribute ``nonblocking = True`` (``MemoryStore``
does): the async worker then calls it on the event loop, skipping the thread hop. A store whose
calls wait only while another writer holds the database (SQLite) offers
:class:`WaitFreeCalls` instead: the worker tries each call on the event loop and hands it to a
thread only when it would wait.

Errors: ``NotFound`` for unknown ids; ``StorageError`` (driver error chained) for anything the
backend failed at. Nothing else escapes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar, runtime_checkable

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
from acadio_webhooks.domain.retention import PruneReport

__all__ = [
    "Route",
    "RoutingSnapshot",
    "RoutingView",
    "DeliveryPlanner",
    "DeliveryQuery",
    "Page",
    "Store",
    "WaitFreeCalls",
    "WouldWait",
    "BacklogView",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Route:
    """An active subscription of an active integration, as the dispatcher routes on it."""

    subscription_id: str
    integration_id: str
    pattern: str


@dataclass(frozen=True)
class RoutingSnapshot:
    """A tenant's routes at one routing revision."""

    revision: int
    routes: tuple[Route, ...]


class RoutingView(Protocol):
    """The routing table as one :meth:`Store.enqueue_routed` transaction sees it."""

    @property
    def revision(self) -> int:
        """The routing revision, read in the transaction (see :meth:`Store.routing_revision`)."""
        ...

    def routes(self, tenants: Collection[str]) -> dict[str, tuple[Route, ...]]:
        """Each tenant's routes (as :meth:`Store.routes`), read in the transaction; every
        tenant asked for is a key, with ``()`` when it has none."""
        ...


DeliveryPlanner = Callable[[RoutingView, Sequence[Event]], Sequence[Sequence[Delivery]]]
"""Given the routing table and the events about to be stored, each event's deliveries."""


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters for listing deliveries, newest first. ``cursor`` is a ``Page.next_cursor``."""

    tenant: str | None = None
    integration_id: str | None = None
    subscription_id: str | None = None
    event_id: str | None = None
    status: DeliveryStatus | None = None
    topic: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None


@runtime_checkable
class Store(Protocol):
    """Durable state: integrations, subscriptions, events, deliveries, attempts, notices,
    named leases.

    Thread-safe: one instance is shared by a host's request threads and its workers. The
    SQL adapter is also safe across processes sharing the database.
    """

    # -- integrations and subscriptions (the admin flow) ------------------------------------

    def add_integration(self, integration: Integration) -> None:
        """Store a new integration (its id must be new)."""
        ...

    def update_integration(self, integration: Integration) -> None:
        """Replace the integration with the same id; ``NotFound`` if there is none."""
        ...

    def get_integration(self, integration_id: str) -> Integration:
        """The integration, or ``NotFound``."""
        ...

    def list_integrations(self, tenant: str | None = None) -> list[Integration]:
        """Integrations of ``tenant`` (all when None), oldest first."""
        ...

    def add_subscription(self, subscription: Subscription) -> None:
        """Store a new subscription; ``NotFound`` if its integration does not exist."""
        ...

    def update_subscription(self, subscription: Subscription) -> None:
        """Replace the subscription with the same id; ``NotFound`` if there is none."""
        ...

    def delete_subscription(self, subscription_id: str) -> None:
        """Remove a subscription and cancel its pending deliveries; ``NotFound`` if unknown."""
        ...

    def get_subscription(self, subscription_id: str) -> Subscription:
        """The subscription, or ``NotFound``."""
        ...

    def list_subscriptions(self, integration_id: str) -> list[Subscription]:
        """Subscriptions of one integration, oldest first."""
        ...

    def routing_revision(self) -> int:
        """A number that changes whenever any integration or subscription changes.

        The dispatcher caches its pattern index per tenant and rebuilds it when this moves
        (it reads it through :meth:`enqueue_routed`'s view, in the transaction that stores
        the events), so the read must be cheap (one indexed row)."""
        ...

    def routes(self, tenant: str) -> RoutingSnapshot:
        """Active subscriptions of the tenant's active integrations, with the revision."""
        ...

    # -- the outbox -------------------------------------------------------------------------

    def enqueue(
        self,
        event: Event,
        deliveries: Sequence[Delivery],
        *,
        connection: object | None = None,
    ) -> bool:
        """Atomically store the event and its deliveries (due at ``next_attempt_at``).

        With ``event.dedup_key`` set and already stored, store nothing and return False.
        With ``connection`` (SQL stores: the host's SQLAlchemy ``Connection`` inside its own
        transaction), write through it and do not commit: the host's commit or rollback
        decides (transactional outbox). Stores that cannot join a host transaction raise
        ``TypeError`` when given one.
        """
        ...

    def enqueue_routed(
        self,
        events: Sequence[Event],
        plan: DeliveryPlanner,
        *,
        connection: object | None = None,
    ) -> list[bool]:
        """Atomically store ``events`` with the deliveries ``plan`` makes for them from the
        routing table as of this very transaction; one flag per event, in order.

        Routing and storing in one transaction is what lets a cached routing index be used
        safely and cheaply: ``plan`` compares ``view.revision`` with the revision its cache
        was built at and asks ``view.routes`` only for tenants that are stale. ``plan`` is
        called at most once, inside the transaction, before any delivery is written (the
        store may insert the events before or after), with the events that may be stored: an
        event whose ``dedup_key`` an earlier event of the batch already has is left out; one
        whose key is already stored may be included, and its deliveries are then dropped. It
        must return one sequence of deliveries per event it is given, and must not call the
        store. Whatever it raises propagates, and the store's own transaction stores nothing
        (with ``connection``, roll the host's transaction back, as after any error here).

        Flags: False for an event not stored because of its ``dedup_key`` (already stored, or
        taken by an earlier event of the same batch — the first one wins, as if the events
        had been enqueued one by one). ``connection`` as for :meth:`enqueue`: the routing
        table is then read in the host's transaction too. On PostgreSQL one ``NOTIFY`` goes
        out per transaction that stored deliveries.
        """
        ...

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

    # -- the admin page's views and operations ---------------------------------------------

    def get_event(self, event_id: str) -> Event:
        """The event, or ``NotFound``."""
        ...

    def get_delivery(self, delivery_id: str) -> Delivery:
        """The delivery, or ``NotFound``."""
        ...

    def list_deliveries(self, query: DeliveryQuery) -> Page[Delivery]:
        """Deliveries matching ``query``, newest first, one page at a time."""
        ...

    def list_attempts(self, delivery_id: str) -> list[Attempt]:
        """Attempts of one delivery, in order; ``NotFound`` if the delivery is unknown."""
        ...

    def resend(self, delivery_id: str, *, now: datetime) -> Delivery:
        """Queue a new delivery of the same event to the same subscription, due now, with a
        fresh attempt budget; the old delivery and its attempts stay as history."""
        ...

    def resend_failed(self, integration_id: str, *, since: datetime, now: datetime) -> int:
        """``resend`` every failed delivery of the integration created at or after ``since``
        whose subscription is still active; return how many were queued."""
        ...

    def cancel_pending(
        self,
        *,
        now: datetime,
        integration_id: str | None = None,
        subscription_id: str | None = None,
    ) -> int:
        """Cancel pending deliveries of an integration or a subscription; return the count."""
        ...

    # -- failure notifications --------------------------------------------------------------

    def unsent_notifications(self, limit: int = 1000) -> list[Notification]:
        """Queued notifications not yet sent, oldest first."""
        ...

    def mark_notifications_sent(self, notification_ids: Sequence[str], *, now: datetime) -> None:
        """Record that these notifications went out in a notice at ``now``."""
        ...

    def last_notice_at(self, integration_id: str) -> datetime | None:
        """When the integration was last sent a notice, for rate limiting."""
        ...

    # -- retention --------------------------------------------------------------------------

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
        in flight when its delivery goes is not recorded (:meth:`settle` skips it).
        ``dry_run`` deletes nothing and yields what would go.
        """
        ...

    # -- named leases (one holder at a time, across threads and processes) -----------------

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

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Release connections. Idempotent."""
        ...


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

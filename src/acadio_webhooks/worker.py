"""Delivery workers: thin drivers that move values between the ports and the delivery core.

* :class:`AsyncWorker` — the long-running async worker: claims due deliveries in batches,
  sends them concurrently (bounded globally and per endpoint), settles the outcomes in
  batches, flushes failure notices, and shuts down gracefully.
* :class:`SyncWorker` — for sync hosts, cron jobs and tests: ``drain()`` sends everything due
  now with a sync transport, in this thread. Safe inside a running event loop (it uses none).
* :class:`WorkerThread` — runs an :class:`AsyncWorker` on its own event loop in a background
  thread, for sync hosts (Django, Flask) that want continuous delivery in-process.

Every decision (signing, retry, give up, disable, notify) is made by
:mod:`acadio_webhooks.domain.core`; nothing here decides, so the two drivers cannot drift.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Generic, TypeVar

import anyio
import anyio.to_thread

from acadio_webhooks._lanes import Flow
from acadio_webhooks.domain.core import DeliveryPolicy, prepare, settle
from acadio_webhooks.domain.messages import (
    Claimed,
    ErrorKind,
    OutboundRequest,
    Settlement,
    TransportResult,
    WorkItem,
)
from acadio_webhooks.domain.models import DeliveryStatus
from acadio_webhooks.domain.notices import DEFAULT_NOTICE_GRACE, DEFAULT_NOTICE_WINDOW
from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.event_loop import EventLoopName, resolve_event_loop
from acadio_webhooks.event_loop import run as run_event_loop
from acadio_webhooks.notify import DEFAULT_NOTICE_LEASE, NotificationFlusher
from acadio_webhooks.observability import DeliveryMetrics, _hooks, log_settlement
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.storage import Store, WaitFreeCalls, WouldWait
from acadio_webhooks.ports.transport import AsyncTransport, Transport
from acadio_webhooks.pruning import (
    DEFAULT_PRUNE_INTERVAL,
    DEFAULT_RETENTION,
    Pruner,
    check_pruning_settings,
)

__all__ = ["WorkerSettings", "DrainReport", "AsyncWorker", "SyncWorker", "WorkerThread"]

logger = logging.getLogger("acadio_webhooks.worker")

_T = TypeVar("_T")


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker paces itself.

    * ``concurrency`` — attempts in flight at once (async worker; threads for the sync one).
    * ``per_endpoint`` — attempts in flight at once to one endpoint URL, so one slow
      receiver cannot take every slot.
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
    notify_interval: float = 30.0
    notice_window: timedelta = DEFAULT_NOTICE_WINDOW
    notice_grace: timedelta = DEFAULT_NOTICE_GRACE
    notice_lease: timedelta = DEFAULT_NOTICE_LEASE
    retention: timedelta | None = DEFAULT_RETENTION
    prune_interval: timedelta = DEFAULT_PRUNE_INTERVAL
    prune_batch_size: int = 500

    def __post_init__(self) -> None:
        if self.notice_lease <= timedelta(0):
            raise ValueError("notice_lease must be positive")
        check_pruning_settings(self.retention, self.prune_interval, self.prune_batch_size)
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


_BUSY_RESUME = 0.1
"""Seconds a busy worker waits at least before claiming for deliveries put off for rate
limits that came due (see ``AsyncWorker._until_resume``)."""


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident():x}:{time.monotonic_ns():x}"


@dataclass
class _Runner:
    """What both drivers share: claiming, preparing, settling and recording, minus the I/O."""

    store: Store
    clock: Clock
    policy: DeliveryPolicy
    settings: WorkerSettings
    metrics: DeliveryMetrics
    flusher: NotificationFlusher | None
    pruner: Pruner | None = None
    owner: str = field(default_factory=_default_owner)
    # Consecutive failures per subscription seen by this worker since its items were claimed.
    # Items claimed in one batch all carry the count the store had at claim time; without
    # this, several failing at once would step over the "endpoint started failing" threshold
    # and the notice would never go out.
    failures: dict[str, int] = field(default_factory=dict)
    failures_lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, limit: int, skip: Collection[str] = ()) -> Claimed:
        return self.store.claim(
            now=self.clock.now(),
            limit=limit,
            owner=self.owner,
            lease=self.settings.lease,
            skip_subscriptions=skip,
        )

    def begin(
        self, item: WorkItem
    ) -> tuple[datetime, float, OutboundRequest, _hooks.AttemptTrace | None]:
        started = self.clock.now()
        request = prepare(item, now=started)
        tracer = _hooks.tracer
        if tracer is None:
            return started, time.perf_counter(), request, None
        trace = tracer.attempting(item)
        traced = replace(request, headers={**request.headers, **trace.headers})
        return started, time.perf_counter(), traced, trace

    def finish(
        self,
        item: WorkItem,
        result: TransportResult,
        started: datetime,
        began: float,
        trace: _hooks.AttemptTrace | None,
    ) -> Settlement:
        verdict = self._verdict(item, result, started, began)
        if trace is not None:
            trace.end(verdict)
        return verdict

    def _verdict(
        self, item: WorkItem, result: TransportResult, started: datetime, began: float
    ) -> Settlement:
        if result.duration <= 0:
            result = _with_duration(result, time.perf_counter() - began)
        # Count atomically: the sync worker finishes attempts in several threads.
        with self.failures_lock:
            seen = max(self.failures.get(item.subscription_id, 0), item.endpoint_failures)
            if not result.succeeded:
                self.failures[item.subscription_id] = seen + 1
        if seen != item.endpoint_failures:
            # Rare (several attempts of one failing endpoint in flight at once): replace()
            # costs more than the rest of this method, so the item is kept when it is right.
            item = replace(item, endpoint_failures=seen)
        verdict = settle(item, result, started_at=started, now=self.clock.now(), policy=self.policy)
        if verdict.succeeded:
            with self.failures_lock:
                self.failures.pop(item.subscription_id, None)
        return verdict

    def attempt(self, item: WorkItem, transport: Transport) -> Settlement:
        """One attempt of ``item`` with a sync transport, start to verdict."""
        started, began, request, trace = self.begin(item)
        try:
            result = transport.send(request)
        except Exception as exc:  # noqa: BLE001 - see _crashed
            result = _crashed(exc)
        return self.finish(item, result, started, began, trace)

    async def attempt_async(self, item: WorkItem, transport: AsyncTransport) -> Settlement:
        """The async twin of :meth:`attempt`."""
        started, began, request, trace = self.begin(item)
        try:
            result = await transport.send(request)
        except Exception as exc:  # noqa: BLE001 - see _crashed
            result = _crashed(exc)
        return self.finish(item, result, started, began, trace)

    def commit(self, settlements: Sequence[Settlement], *, owner: str | None = None) -> None:
        if not settlements:
            return
        self.store.settle(settlements, owner=owner or self.owner, now=self.clock.now())
        self.metrics.record_many(settlements)
        for settlement in settlements:
            log_settlement(settlement)

    def flush_notices(self) -> int:
        if self.flusher is None:
            return 0
        try:
            return self.flusher.flush()
        except Exception:
            # The store or mail server failing (AcadioWebhooksError) and a bug in a host's own
            # notifier alike: the notices stay queued for the next flush, the traceback is
            # logged, and the worker goes on delivering.
            logger.exception("failure notices not flushed; they stay queued")
            return 0


def _with_duration(result: TransportResult, duration: float) -> TransportResult:
    return TransportResult(
        status_code=result.status_code,
        duration=duration,
        body_excerpt=result.body_excerpt,
        error_kind=result.error_kind,
        error=result.error,
        retry_after=result.retry_after,
    )


def _crashed(exc: BaseException) -> TransportResult:
    # A transport must not raise for endpoint failures; if one does anyway, the attempt is
    # recorded as failed instead of losing the delivery.
    logger.error("transport raised %s; recording a failed attempt", type(exc).__name__)
    return TransportResult(
        status_code=None, duration=0.0, error_kind=ErrorKind.OTHER, error=type(exc).__name__
    )


def _make_runner(
    store: Store,
    *,
    clock: Clock | None,
    policy: DeliveryPolicy | None,
    settings: WorkerSettings | None,
    notifier: Notifier | None,
    metrics: DeliveryMetrics | None,
    owner: str | None,
) -> _Runner:
    clock = clock or SystemClock()
    policy = policy or DeliveryPolicy()
    settings = settings or WorkerSettings()
    metrics = metrics or DeliveryMetrics()
    flusher = None
    if notifier is not None:
        flusher = NotificationFlusher(
            store,
            notifier,
            clock=clock,
            window=settings.notice_window,
            grace=settings.notice_grace,
            max_attempts=policy.retry.max_attempts,
            lease=settings.notice_lease,
            metrics=metrics,
        )
    pruner = None
    if settings.retention is not None:
        pruner = Pruner(
            store,
            retention=settings.retention,
            clock=clock,
            interval=settings.prune_interval,
            batch_size=settings.prune_batch_size,
        )
    runner = _Runner(
        store=store,
        clock=clock,
        policy=policy,
        settings=settings,
        metrics=metrics,
        flusher=flusher,
        pruner=pruner,
    )
    if owner:
        runner.owner = owner
    return runner


_TransportT = TypeVar("_TransportT", Transport, AsyncTransport)


class _Worker(Generic[_TransportT]):
    """What both drivers are built from: a store, a transport and the shared runner."""

    def __init__(
        self,
        store: Store,
        transport: _TransportT,
        *,
        clock: Clock | None = None,
        policy: DeliveryPolicy | None = None,
        settings: WorkerSettings | None = None,
        notifier: Notifier | None = None,
        metrics: DeliveryMetrics | None = None,
        owner: str | None = None,
    ) -> None:
        self._transport: _TransportT = transport
        self._runner = _make_runner(
            store,
            clock=clock,
            policy=policy,
            settings=settings,
            notifier=notifier,
            metrics=metrics,
            owner=owner,
        )

    @property
    def metrics(self) -> DeliveryMetrics:
        """Counters of every attempt this worker settled."""
        return self._runner.metrics

    @property
    def settings(self) -> WorkerSettings:
        """How this worker paces itself, retention included."""
        return self._runner.settings


class SyncWorker(_Worker[Transport]):
    """Sends due deliveries from the calling thread with a sync :class:`Transport`."""

    # Attempts made whose recording failed: recorded before anything else is claimed.
    _unrecorded: tuple[Settlement, ...] = ()

    def _attempt(self, item: WorkItem) -> Settlement:
        return self._runner.attempt(item, self._transport)

    def run_once(self) -> DrainReport:
        """Claim one batch of due deliveries, attempt each, and settle them.

        Attempts a previous call could not record are recorded first; see :meth:`drain` for
        what happens when recording fails.
        """
        report = DrainReport()
        if self._unrecorded:
            self._record(self._unrecorded, report)
        items = self._runner.claim(self._runner.settings.batch_size)
        if not items:
            return report
        threads = min(self._runner.settings.concurrency, len(items))
        if threads == 1:
            settlements = [self._attempt(item) for item in items]
        else:
            with ThreadPoolExecutor(threads, thread_name_prefix="acadio-webhooks") as pool:
                settlements = list(pool.map(self._attempt, items))
        self._record(tuple(settlements), report)
        return report

    def _record(self, settlements: tuple[Settlement, ...], report: DrainReport) -> None:
        """Record ``settlements``, or keep them for the next call and raise."""
        try:
            self._runner.commit(settlements)
        except AcadioWebhooksError:
            # The requests went out: forgetting them would lose their outcome and leave their
            # deliveries leased to this worker until the leases expire.
            self._unrecorded = settlements
            logger.warning(
                "recording %d attempts failed; this worker keeps them and records them first "
                "on its next drain() or run_once() (if it is dropped instead, their deliveries "
                "are attempted again once their leases expire within %s)",
                len(settlements),
                self._runner.settings.lease,
            )
            raise
        self._unrecorded = ()
        report.add(settlements)

    def drain(self) -> DrainReport:
        """Attempt everything due now until nothing is, then flush failure notices.

        Retries scheduled for later are left for a later call (move a fake clock forward in
        tests to make them due).

        If the store fails to record the attempts of a batch, ``drain()`` raises its
        :class:`~acadio_webhooks.errors.StorageError` (as it does when claiming fails) and
        logs a WARNING. The attempts already made are not lost: the worker keeps them and its
        next :meth:`drain` or :meth:`run_once` records them before claiming anything else
        (recording is idempotent per attempt, so one whose commit went through before the
        error is not recorded twice). Meanwhile their deliveries stay leased to this worker,
        so nothing is sent twice; a worker dropped instead loses nothing either, since the
        leases expire (``WorkerSettings.lease``) and any worker attempts those deliveries
        again.
        """
        total = DrainReport()
        while True:
            report = self.run_once()
            if not report.attempts:
                break
            total.attempts += report.attempts
            total.delivered += report.delivered
            total.failed += report.failed
            total.retried += report.retried
        total.notices = self._runner.flush_notices()
        return total


class AsyncWorker(_Worker[AsyncTransport]):
    """The long-running async delivery worker (asyncio)."""

    def __init__(
        self,
        store: Store,
        transport: AsyncTransport,
        *,
        clock: Clock | None = None,
        policy: DeliveryPolicy | None = None,
        settings: WorkerSettings | None = None,
        notifier: Notifier | None = None,
        metrics: DeliveryMetrics | None = None,
        owner: str | None = None,
    ) -> None:
        super().__init__(
            store,
            transport,
            clock=clock,
            policy=policy,
            settings=settings,
            notifier=notifier,
            metrics=metrics,
            owner=owner,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        # When deliveries put off for rate limits come due (Claimed.resume_at): the feeder
        # claims then rather than at its next poll, so a limited endpoint gets its deliveries
        # spaced as its limit allows instead of in clumps, one per poll.
        self._resume_at: datetime | None = None
        # Stores that never wait on I/O (MemoryStore) are called on the event loop: a thread
        # hop would cost more than the call.
        self._inline_store = getattr(store, "nonblocking", False) is True
        # Stores that wait only for another writer (SQLite) are tried on the event loop first:
        # a thread hop hands the interpreter lock back and forth and cost ~30% of throughput.
        self._without_waiting = (
            store.without_waiting
            if not self._inline_store and isinstance(store, WaitFreeCalls)
            else None
        )
        settings = self._runner.settings
        # The feeder claims once this much room is free, and only then is worth waking.
        self._claim_threshold = max(1, min(settings.batch_size, settings.concurrency) // 2)
        self._claim_room_at = settings.concurrency * 2 - self._claim_threshold

    @property
    def owner(self) -> str:
        """The lease owner name this worker claims under."""
        return self._runner.owner

    async def aclose(self) -> None:
        """Close the transport this worker was given."""
        await self._transport.close()

    def wake(self) -> None:
        """Look for due work now instead of at the next poll. Safe from any thread."""
        loop, event = self._loop, self._wakeup
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    async def drain(self) -> DrainReport:
        """Attempt everything due now until nothing is (tests, cron), then flush notices."""
        report = DrainReport()
        await self._serve(stop=None, report=report)
        report.notices = await anyio.to_thread.run_sync(self._runner.flush_notices)
        return report

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set, then finish in-flight attempts, settle them and
        give back leases of deliveries not yet started."""
        await self._serve(stop=stop or asyncio.Event(), report=None)

    async def _serve(self, *, stop: asyncio.Event | None, report: DrainReport | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        settings = self._runner.settings
        state = Flow(
            concurrency=settings.concurrency,
            per_endpoint=settings.per_endpoint,
            batch_size=settings.batch_size,
            stop=stop,
        )
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._settler, state, report)
                if stop is not None:
                    group.start_soon(self._notice_loop, state)
                    group.start_soon(self._wake_on_stop, stop)
                    if self._runner.pruner is not None:
                        group.start_soon(self._prune_loop, self._runner.pruner, stop)
                await self._feed(state, report)
                await state.idle.wait()
                if state.crash is not None:
                    # Out through the task group, as an error in any of its tasks would leave.
                    raise state.crash
                state.close_lanes()
                group.cancel_scope.cancel()
        finally:
            # Lanes still running here are left after a crash or a cancellation from
            # outside: stop their attempts too.
            for task in state.tasks:
                task.cancel()
            if state.tasks:
                await asyncio.gather(*state.tasks, return_exceptions=True)
        await self._commit(state, report, final=True)
        unused = state.unstarted + state.deferred
        if unused:
            try:
                await self._store_call(
                    lambda: self._runner.store.release(unused, owner=self._runner.owner)
                )
            except AcadioWebhooksError as exc:
                # Stopping must not fail for this: the leases run out by themselves and
                # another worker takes the deliveries over then.
                logger.warning(
                    "giving back %d claimed deliveries not yet attempted failed (%s); their "
                    "leases expire within %s and other workers take them over then",
                    len(unused),
                    exc,
                    self._runner.settings.lease,
                )

    async def _store_call(self, function: Callable[[], _T]) -> _T:
        """Run a store call: on the event loop when the store never blocks (memory) or can
        tell it would wait (SQLite), else (and then) in a worker thread."""
        if self._inline_store:
            return function()
        if self._without_waiting is not None:
            block = self._without_waiting()
            if block is not None:
                try:
                    with block:
                        return function()
                except WouldWait:
                    pass  # another writer holds the database: wait for it off the loop
        return await anyio.to_thread.run_sync(function)

    async def _feed(self, state: Flow, report: DrainReport | None) -> None:
        settings = self._runner.settings
        while not state.stopping and state.crash is None:
            items: list[WorkItem] = []
            wanted = self._wanted(state)
            skipped: frozenset[str] = frozenset()
            claimed = stopped_early = False
            if wanted:
                claimed = True
                skipped = state.saturated()
                try:
                    claim = await self._store_call(partial(self._runner.claim, wanted, skipped))
                except AcadioWebhooksError:
                    logger.exception("claiming due deliveries failed; retrying after a pause")
                    await self._pause(settings.poll_interval)
                    continue
                items = claim
                # Read after the claim: its resume_at is at or after the time it claimed at.
                stopped_early = self._note_resume(claim.resume_at, self._runner.clock.now())
                accepted = []
                for item in items:
                    if state.hold(item.subscription_id):
                        accepted.append(item)
                    else:
                        # One endpoint's backlog must not fill this worker's room: give the
                        # excess back; claims skip the subscription until its slots free up.
                        state.deferred.append(item.delivery_id)
                        state.flush.set()
                state.leased += len(accepted)
                for _ in range(state.offer(accepted)):
                    state.start(self._lane(state), self._crashed_task)
                if len(items) == wanted or stopped_early:
                    continue
            if (
                state.stop is None
                and state.leased == 0
                # Only a claim that found nothing proves nothing is due: one held back while
                # the store catches up with recording must wait for the settler's wake-up.
                and claimed
                and not items
                and not skipped  # a claim that left subscriptions out proves nothing
                and not state.deferred
                and not state.returning
            ):
                break  # drain: nothing in flight, nothing due, nothing waiting to go back
            pause = settings.poll_interval if state.leased == 0 else None
            if self._wanted(state):
                pause = self._until_resume(pause, busy=state.leased > 0)
            await self._pause(pause)
        if state.leased == 0 or state.crash is not None:
            state.idle.set()

    def _note_resume(self, resume_at: datetime | None, now: datetime) -> bool:
        """Keep a claim's ``resume_at``; True when deliveries are due already (the claim
        left some behind, or some it put off came due while it ran)."""
        if self._resume_at is not None and self._resume_at <= now:
            self._resume_at = None  # the claim just made took what had come due
        if resume_at is None:
            return False
        if resume_at <= now:
            return True
        if self._resume_at is None or resume_at < self._resume_at:
            self._resume_at = resume_at
        return False

    def _wanted(self, state: Flow) -> int:
        """How many deliveries the feeder claims if it looks now; 0 when it does not claim
        (then a finishing attempt or the settler wakes it when it would)."""
        if state.unsettled > state.max_unsettled:
            return 0  # the store is not keeping up with recording: wait for the settler
        wanted = min(state.max_leased - state.leased, self._runner.settings.batch_size)
        if wanted >= self._claim_threshold or (state.leased == 0 and wanted > 0):
            return wanted
        return 0

    def _until_resume(self, seconds: float | None, *, busy: bool) -> float | None:
        """``seconds`` to pause, or less when deliveries put off come due sooner.

        A busy worker claims whenever attempts finish anyway; it is woken for them at most
        every :data:`_BUSY_RESUME` seconds, not once per put-off delivery (for ten endpoints
        at 5/s, fifty extra claims a second). A delivery put off goes late by that much at
        most, which its endpoint's burst allowance absorbs.
        """
        if self._resume_at is None:
            return seconds
        left = (self._resume_at - self._runner.clock.now()).total_seconds()
        left = max(left, _BUSY_RESUME if busy else 0.0)
        return left if seconds is None else min(seconds, left)

    def _crashed_task(self, state: Flow, exc: BaseException) -> None:
        # Not a failing endpoint (the transport reports those), a bug: stop the worker and
        # let the exception out of run()/drain(), as an exception in any other task would.
        if state.crash is None:
            state.crash = exc
        state.idle.set()
        self.wake()

    async def _pause(self, seconds: float | None) -> None:
        # Wait first, clear after: a wake-up that arrived while claiming is not lost.
        assert self._wakeup is not None
        if not self._wakeup.is_set():
            if seconds is None:
                await self._wakeup.wait()
            else:
                with anyio.move_on_after(seconds):
                    await self._wakeup.wait()
        self._wakeup.clear()

    async def _lane(self, state: Flow) -> None:
        """Attempt queued deliveries one after another until the run ends."""
        item = state.take(None)
        while True:
            if item is None:
                if not await state.sleep():
                    return
                item = state.take(None)
                continue
            try:
                await self._attempt(item, state)
            finally:
                # The attempt is over (its verdict waits in the buffer): room for the next claim.
                state.attempt_over(item)
                if state.leased <= self._claim_room_at:
                    self._wake_feeder()
            item = state.take(item)

    async def _attempt(self, item: WorkItem, state: Flow) -> None:
        runner = self._runner
        if state.stopping:
            state.unstarted.append(item.delivery_id)
            return
        if state.is_paused(item.subscription_id, runner.clock.now):
            # The circuit breaker opened while this waited for a lane: hand it back (the
            # store keeps it pending until the pause ends) instead of hammering.
            state.deferred.append(item.delivery_id)
            state.flush.set()
            return
        settlement = await runner.attempt_async(item, self._transport)
        state.note_pause(settlement)
        state.buffer.append(settlement)
        state.unsettled += 1
        if len(state.buffer) >= runner.settings.batch_size:
            state.flush.set()

    async def _settler(self, state: Flow, report: DrainReport | None) -> None:
        interval = self._runner.settings.settle_interval
        while True:
            with anyio.move_on_after(interval):
                await state.flush.wait()
            state.flush.clear()
            await self._commit(state, report)

    async def _commit(
        self, state: Flow, report: DrainReport | None, *, final: bool = False
    ) -> None:
        """Record the buffered verdicts, then give back the deferred deliveries.

        What the store refuses is kept for the settler's next round. The ``final`` round at
        stop records only (the caller gives back every unused lease in one go) and has no
        next round: its failure is a WARNING, and the leases run out by themselves.
        """
        batch, state.buffer = state.buffer, []
        deferred: list[str] = []
        if not final:
            deferred, state.deferred = state.deferred, []
        if not batch and not deferred:
            return
        # Until the store has them back, these are neither leased nor claimable: a draining
        # feeder that saw nothing due meanwhile must wait for them instead of finishing.
        returning = len(deferred)
        state.returning += returning
        failure: AcadioWebhooksError | None = None
        try:
            # Shielded: the settler is cancelled once the attempts are over, and a batch taken
            # out of the buffer must be written, not dropped halfway.
            with anyio.CancelScope(shield=True):
                if batch:
                    try:
                        await self._store_call(lambda: self._runner.commit(batch))
                    except AcadioWebhooksError as exc:
                        failure = exc
                        state.buffer[:0] = batch
                        state.deferred[:0] = deferred
                        batch, deferred = [], []
                if deferred:
                    # After the verdicts: the store knows any pause before these go back,
                    # so no claim takes them again before it ends.
                    try:
                        await self._store_call(
                            lambda: self._runner.store.release(deferred, owner=self._runner.owner)
                        )
                    except AcadioWebhooksError as exc:
                        failure = exc
                        state.deferred[:0] = deferred
        finally:
            state.returning -= returning
        if batch:
            state.unsettled -= len(batch)
            if report is not None:
                report.add(batch)
        self._wake_feeder()
        if failure is None:
            return
        if final:
            logger.warning(
                "recording %d attempts made before stopping failed (%s); their deliveries are "
                "attempted again when their leases expire within %s",
                len(state.buffer),
                failure,
                self._runner.settings.lease,
            )
            return
        # Keep the rest and try again: the attempts happened and must be recorded.
        logger.error(
            "recording %d attempts or giving back %d deliveries failed; retrying",
            len(state.buffer),
            len(state.deferred),
            exc_info=failure,
        )
        await anyio.sleep(self._runner.settings.poll_interval)

    def _wake_feeder(self) -> None:
        # From the event loop itself: no need for wake()'s thread-safe hand-over.
        if self._wakeup is not None:
            self._wakeup.set()

    async def _wake_on_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake()

    async def _notice_loop(self, state: Flow) -> None:
        while True:
            await anyio.sleep(self._runner.settings.notify_interval)
            await anyio.to_thread.run_sync(self._runner.flush_notices)

    async def _prune_loop(self, pruner: Pruner, stop: asyncio.Event) -> None:
        # Reading the event's flag from the pruning thread is safe: a plain attribute read.
        keep_going = partial(_not_set, stop)
        while True:
            try:
                await anyio.to_thread.run_sync(partial(pruner.prune, keep_going=keep_going))
            except Exception:
                # Delivering matters more than pruning: a failing prune (the store, or a bug
                # in a host's own store adapter) is logged and tried again next interval.
                logger.exception("pruning old history failed; trying again in %s", pruner.interval)
            await anyio.sleep(pruner.interval.total_seconds())


def _not_set(event: asyncio.Event) -> bool:
    return not event.is_set()


class WorkerThread:
    """An :class:`AsyncWorker` on its own event loop in a daemon thread (for sync hosts).

    ``make_worker`` is called inside the new loop, so it can create async transports there.
    ``event_loop`` chooses that loop (:mod:`acadio_webhooks.event_loop`): by default uvloop
    when it is installed, else asyncio's. ``stop()`` asks the worker to finish in-flight
    attempts and waits for the thread.

    Raises:
        ImportError: ``event_loop="uvloop"`` without uvloop installed.
    """

    def __init__(
        self,
        make_worker: Callable[[], AsyncWorker],
        *,
        name: str = "acadio-webhooks",
        event_loop: EventLoopName = "auto",
    ) -> None:
        self._make_worker = make_worker
        self.event_loop = resolve_event_loop(event_loop)
        """The loop the thread runs: ``"uvloop"`` or ``"asyncio"``."""
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._worker: AsyncWorker | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> WorkerThread:
        """Start the thread and return once the worker is running."""
        self._thread.start()
        self._started.wait()
        if self._error is not None:
            raise self._error
        return self

    def wake(self) -> None:
        """Make the worker look for due work now. Safe from any thread."""
        if self._worker is not None:
            self._worker.wake()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop gracefully and wait up to ``timeout`` seconds for the thread to end."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    @property
    def worker(self) -> AsyncWorker | None:
        """The running worker (None before start)."""
        return self._worker

    def _main(self) -> None:
        logger.info(
            "worker thread %s runs on the %s event loop", self._thread.name, self.event_loop
        )
        run_event_loop(self._serve(), loop=self.event_loop)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            self._worker = self._make_worker()
        except BaseException as exc:
            self._error = exc
            self._started.set()
            raise
        self._started.set()
        try:
            await self._worker.run(self._stop)
        finally:
            await self._worker.aclose()

""":class:`AsyncWorker`: the long-running async delivery worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeVar

import anyio
import anyio.to_thread

from acadio_webhooks._lanes import Flow
from acadio_webhooks.domain.messages import WorkItem
from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.ports.storage import Store, WaitFreeCalls, WouldWait
from acadio_webhooks.ports.transport import AsyncTransport
from acadio_webhooks.pruning import Pruner
from acadio_webhooks.worker._sync import _Worker
from acadio_webhooks.worker.settings import DrainReport

logger = logging.getLogger("acadio_webhooks.worker")

_T = TypeVar("_T")

_BUSY_RESUME = 0.1
"""Seconds a busy worker waits at least before claiming for deliveries put off for rate
limits that came due (see ``AsyncWorker._until_resume``)."""


class AsyncWorker(_Worker[AsyncTransport]):
    """The long-running async delivery worker (asyncio)."""

    def _set_up(self, store: Store) -> None:
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
        self._claim_room_at = 0  # set per run, from what its Flow holds at most

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
        self._claim_room_at = state.max_leased - self._claim_threshold
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
                state.signed.update(self._runner.sign_ahead(accepted))
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
        signed = state.signed.pop(item.delivery_id, None)
        if state.stopping:
            state.unstarted.append(item.delivery_id)
            return
        if state.is_paused(item.subscription_id, runner.clock.now):
            # The circuit breaker opened while this waited for a lane: hand it back (the
            # store keeps it pending until the pause ends) instead of hammering.
            state.deferred.append(item.delivery_id)
            state.flush.set()
            return
        settlement = await runner.attempt_async(item, self._transport, signed)
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

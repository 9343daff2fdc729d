"""The async worker's bookkeeping of one run: claimed deliveries, lanes, holds and pauses.

Claimed deliveries wait in one queue; up to ``concurrency`` *lanes* (long-lived tasks) take
them one after another. A lane is started only when work waits and every lane is busy, and
it sleeps when the queue is empty. A task per delivery, with a global and a per-endpoint
semaphore, cost more event-loop work per delivery than the worker's own bookkeeping.

The per-endpoint bound is kept without semaphores: a lane that takes a delivery whose
endpoint already has ``per_endpoint`` attempts in flight parks it instead, and the lane that
ends one of those attempts takes the parked one next. No lane ever waits for an endpoint,
so a slow endpoint cannot hold lanes that other endpoints could use.

Only touched from the event loop, so nothing here locks.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from datetime import datetime
from typing import Any

from acadio_webhooks.domain.core import is_paused
from acadio_webhooks.domain.messages import OutboundRequest, Settlement, WorkItem

__all__ = ["WAVES_HELD", "Flow"]

WAVES_HELD = 4
"""How many waves of attempts a worker run holds claimed: up to ``concurrency`` times this in
all, and ``per_endpoint`` times this of one subscription (in flight plus queued). The next
claim has to come back before the queued waves are sent: with two waves, a worker on
PostgreSQL (a claim of 50 in 3 to 10 ms) kept 12 to 16 of its 50 lanes busy on average."""


class Flow:
    """Mutable state of one ``AsyncWorker._serve`` run."""

    def __init__(
        self, *, concurrency: int, per_endpoint: int, batch_size: int, stop: asyncio.Event | None
    ) -> None:
        self.stop = stop
        # Claimed deliveries wait for a lane a few attempts' time, far within the lease.
        self.max_leased = concurrency * WAVES_HELD
        self.max_unsettled = batch_size * 4 + self.max_leased
        self.concurrency = concurrency
        # With per_endpoint >= concurrency the global bound is the tighter one: no counting.
        self.per_endpoint = per_endpoint if per_endpoint < concurrency else 0
        self.leased = 0  # claimed, attempt not over yet (queued, parked or in flight)
        self.unsettled = 0  # attempts over, verdict not recorded yet
        self.buffer: list[Settlement] = []
        # Requests signed when their deliveries were claimed (_Runner.sign_ahead), taken by
        # the lane that attempts them.
        self.signed: dict[str, tuple[int, OutboundRequest]] = {}
        self.unstarted: list[str] = []
        # Claimed but handed back unattempted (over a subscription's share, or paused by
        # the circuit breaker): released by the settler.
        self.deferred: list[str] = []
        self.returning = 0  # deferred deliveries whose release the settler is writing
        self.tasks: set[asyncio.Task[None]] = set()
        self.crash: BaseException | None = None
        self.flush = asyncio.Event()
        self.idle = asyncio.Event()
        self._queue: deque[WorkItem] = deque()
        self._parked: dict[str, deque[WorkItem]] = {}
        self._in_flight: dict[str, int] = {}
        self._lanes = 0
        self._sleeping: list[asyncio.Future[bool]] = []
        self._closing = False
        self._paused: dict[str, datetime] = {}
        # In flight plus queued, per subscription: the same number of waves of per_endpoint.
        self.per_subscription_hold = per_endpoint * WAVES_HELD
        self._held: dict[str, int] = {}

    @property
    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    # -- lanes -----------------------------------------------------------------------------

    def offer(self, items: Iterable[WorkItem]) -> int:
        """Queue claimed deliveries and wake sleeping lanes for them; how many new lanes
        the caller should start (with :meth:`start`)."""
        queue = self._queue
        before = len(queue)
        queue.extend(items)
        waiting = len(queue) - before
        sleeping = self._sleeping
        while waiting and sleeping:
            lane = sleeping.pop()
            if not lane.done():
                lane.set_result(True)
                waiting -= 1
        wanted = min(waiting, self.concurrency - self._lanes)
        self._lanes += wanted
        return wanted

    def take(self, after: WorkItem | None) -> WorkItem | None:
        """The next delivery for a lane (None: nothing it may start now).

        ``after`` is the delivery the lane just attempted: a delivery parked behind its
        endpoint goes first, since its endpoint has just got room.
        """
        bound = self.per_endpoint
        if not bound:
            return self._queue.popleft() if self._queue else None
        in_flight = self._in_flight
        if after is not None:
            parked = self._parked.get(after.endpoint)
            if parked:
                item = parked.popleft()
                if not parked:
                    del self._parked[after.endpoint]
                in_flight[item.endpoint] = in_flight.get(item.endpoint, 0) + 1
                return item
        queue = self._queue
        while queue:
            item = queue.popleft()
            endpoint = item.endpoint
            running = in_flight.get(endpoint, 0)
            if running < bound:
                in_flight[endpoint] = running + 1
                return item
            self._parked.setdefault(endpoint, deque()).append(item)
        return None

    def attempt_over(self, item: WorkItem) -> None:
        """A delivery :meth:`take` gave out is done with (attempted or handed back)."""
        if self.per_endpoint:
            left = self._in_flight.pop(item.endpoint) - 1
            if left:
                self._in_flight[item.endpoint] = left
        self._let_go(item.subscription_id)
        self.leased -= 1
        if self.leased == 0 and (self.stop is None or self.stopping):
            self.idle.set()

    async def sleep(self) -> bool:
        """Wait until work is offered (True) or the run ends (False)."""
        if self._closing:
            return False
        lane: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._sleeping.append(lane)
        try:
            return await lane
        except BaseException:
            if lane in self._sleeping:
                self._sleeping.remove(lane)
            raise

    def close_lanes(self) -> None:
        """End the run: sleeping lanes return, and none sleeps again."""
        self._closing = True
        for lane in self._sleeping:
            if not lane.done():
                lane.set_result(False)
        self._sleeping.clear()

    def start(
        self,
        lane: Coroutine[Any, Any, None],
        on_crash: Callable[[Flow, BaseException], None],
    ) -> None:
        """Run a lane as its own task, kept referenced until it ends."""
        task = asyncio.get_running_loop().create_task(lane)
        self.tasks.add(task)

        def ended(task: asyncio.Task[None]) -> None:
            self.tasks.discard(task)
            self._lanes -= 1
            if not task.cancelled() and task.exception() is not None:
                on_crash(self, task.exception())  # type: ignore[arg-type]

        task.add_done_callback(ended)

    # -- shares and pauses -----------------------------------------------------------------

    def hold(self, subscription_id: str) -> bool:
        """Count one more claimed delivery of the subscription; False when over its share."""
        held = self._held.get(subscription_id, 0)
        if held >= self.per_subscription_hold:
            return False
        self._held[subscription_id] = held + 1
        return True

    def _let_go(self, subscription_id: str) -> None:
        held = self._held.pop(subscription_id, 0) - 1
        if held > 0:
            self._held[subscription_id] = held

    def saturated(self) -> frozenset[str]:
        """Subscriptions holding their full share: the next claim leaves them out."""
        cap = self.per_subscription_hold
        return frozenset(sub for sub, held in self._held.items() if held >= cap)

    def note_pause(self, settlement: Settlement) -> None:
        """Remember circuit-breaker pauses of this run's attempts, and their end on success."""
        subscription_id = settlement.item.subscription_id
        if settlement.succeeded:
            self._paused.pop(subscription_id, None)
        elif settlement.pause_until is not None:
            known = self._paused.get(subscription_id, settlement.pause_until)
            self._paused[subscription_id] = max(known, settlement.pause_until)

    def is_paused(self, subscription_id: str, now: Callable[[], datetime]) -> bool:
        """Whether an attempt of this run paused the subscription until after ``now()``
        (the clock is only read when one did)."""
        paused_until = self._paused.get(subscription_id)
        return paused_until is not None and is_paused(paused_until, now())

"""The part both drivers (and the Celery tasks) share: claiming, preparing, settling and
recording, with every decision left to :mod:`acadio_webhooks.domain.core`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from acadio_webhooks.domain.core import DeliveryPolicy, prepare, settle
from acadio_webhooks.domain.messages import (
    Claimed,
    ErrorKind,
    OutboundRequest,
    Settlement,
    TransportResult,
    WorkItem,
)
from acadio_webhooks.notify import NotificationFlusher
from acadio_webhooks.observability import DeliveryMetrics, _hooks, log_settlement
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.ports.transport import AsyncTransport, Transport
from acadio_webhooks.pruning import Pruner
from acadio_webhooks.worker.settings import WorkerSettings

logger = logging.getLogger("acadio_webhooks.worker")

SignedAhead = tuple[int, OutboundRequest]
"""A request signed before its attempt began, and the unix second it was signed for."""


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

    def sign_ahead(self, items: Sequence[WorkItem]) -> dict[str, SignedAhead]:
        """The requests of ``items``, signed now, by delivery id, for :meth:`begin`.

        Signing a claim's deliveries one after another, while the signing code and its
        data are in the processor's caches, costs less than signing each in its lane
        between two HTTP exchanges, which evict them.
        """
        now = self.clock.now()
        second = int(now.timestamp())
        return {item.delivery_id: (second, prepare(item, now=now)) for item in items}

    def begin(
        self, item: WorkItem, signed: SignedAhead | None = None
    ) -> tuple[datetime, float, OutboundRequest, _hooks.AttemptTrace | None]:
        started = self.clock.now()
        if signed is not None and signed[0] == int(started.timestamp()):
            request = signed[1]
        else:
            # Every attempt carries the second it starts in: one signed ahead in an earlier
            # second (it waited for a lane) is signed again.
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

    async def attempt_async(
        self, item: WorkItem, transport: AsyncTransport, signed: SignedAhead | None = None
    ) -> Settlement:
        """The async twin of :meth:`attempt`; ``signed`` is what :meth:`sign_ahead` made
        for ``item``, if it did."""
        started, began, request, trace = self.begin(item, signed)
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

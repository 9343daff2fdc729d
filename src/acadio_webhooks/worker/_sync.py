""":class:`SyncWorker`, and the base both drivers are built from."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.messages import Settlement, WorkItem
from acadio_webhooks.errors import AcadioWebhooksError
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.ports.clock import Clock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.ports.transport import AsyncTransport, Transport
from acadio_webhooks.worker._runner import _make_runner
from acadio_webhooks.worker.settings import DrainReport, WorkerSettings

logger = logging.getLogger("acadio_webhooks.worker")


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
        self._set_up(store)

    def _set_up(self, store: Store) -> None:
        """What a driver keeps beside the runner (the async one: its loop state)."""

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
        with self._threads() as pool:
            return self._run_once(pool)

    def _threads(self) -> ThreadPoolExecutor:
        # Threads start as attempts need them, up to the concurrency, and serve every batch
        # of the call: started anew per batch of 100 they cost a quarter of a drain's time
        # (PostgreSQL or SQLite, a transport that answers at once).
        return ThreadPoolExecutor(
            self._runner.settings.concurrency, thread_name_prefix="acadio-webhooks"
        )

    def _run_once(self, pool: ThreadPoolExecutor) -> DrainReport:
        report = DrainReport()
        if self._unrecorded:
            self._record(self._unrecorded, report)
        items = self._runner.claim(self._runner.settings.batch_size)
        if not items:
            return report
        if len(items) == 1 or self._runner.settings.concurrency == 1:
            settlements = [self._attempt(item) for item in items]
        else:
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
        with self._threads() as pool:
            while True:
                report = self._run_once(pool)
                if not report.attempts:
                    break
                total.attempts += report.attempts
                total.delivered += report.delivered
                total.failed += report.failed
                total.retried += report.retried
        total.notices = self._runner.flush_notices()
        return total

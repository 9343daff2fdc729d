"""Deliver webhooks with Celery, for LMS stacks that already run it (``acadio-webhooks[celery]``).

::

    # lms/celery.py
    app = Celery("lms")
    webhooks = CeleryDelivery(app, "postgresql://webhooks@db/lms")

    # after an emit, optionally (beat pumps every second anyway):
    transaction.on_commit(webhooks.kick)

These tasks are registered on the host's app:

* ``acadio_webhooks.pump`` — run by Celery beat every ``pump_interval`` seconds (and by
  :meth:`CeleryDelivery.kick`): claims due deliveries from the store under a lease, at most
  ``per_endpoint`` per subscription per run, and sends one ``attempt`` task per ``chunk`` of
  them. Messages carry delivery ids only: no payloads, no secrets in the broker.
* ``acadio_webhooks.attempt`` — first :meth:`~acadio_webhooks.ports.storage.Store.take` s the
  leases from the pump (so of two copies of one message, only one finds work), then makes
  each attempt with a sync transport and settles it through the same delivery core as the
  workers (:func:`~acadio_webhooks.domain.core.prepare`,
  :func:`~acadio_webhooks.domain.core.settle`). ``acks_late`` and ``reject_on_worker_lost``:
  a message is only acknowledged once its attempts are recorded.
* ``acadio_webhooks.notify`` — mails queued failure notices every ``notify_interval``.
* ``acadio_webhooks.prune`` — deletes history past ``retention`` every ``prune_interval``
  (one run at a time across the fleet, under the store's lease; see
  :class:`~acadio_webhooks.pruning.Pruner`). Not registered with ``retention=None``.

The store stays the source of truth, so Celery and ``acadio-webhooks worker`` processes can
share it without delivering an attempt twice. Two known Celery traps are designed around:

* Early acknowledgement loses a task whose worker dies: tasks ack late and are rejected
  (re-queued) when their worker process is lost. Even a lost message loses nothing: the
  delivery's lease runs out and the next pump claims it again.
* On Redis, a countdown or ETA longer than the visibility timeout is redelivered early and
  duplicates multiply. Retry delays here never touch the broker: a failed attempt's next
  time is written to the store (``next_attempt_at``, from the same retry policy) and a later
  pump picks it up when due. No task is ever sent with a countdown or ETA.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from acadio_webhooks.adapters.storage import open_store
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import Settlement, WorkItem
from acadio_webhooks.domain.notices import DEFAULT_NOTICE_GRACE, DEFAULT_NOTICE_WINDOW
from acadio_webhooks.notify import DEFAULT_NOTICE_LEASE
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.ports.clock import Clock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.resolver import Resolver
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.ports.transport import Transport
from acadio_webhooks.pruning import (
    DEFAULT_PRUNE_INTERVAL,
    DEFAULT_RETENTION,
    check_pruning_settings,
)
from acadio_webhooks.worker import WorkerSettings, _crashed, _make_runner, _Runner

__all__ = ["CelerySettings", "CeleryDelivery"]

logger = logging.getLogger("acadio_webhooks.celery")


@dataclass(frozen=True)
class CelerySettings:
    """How the Celery integration paces itself.

    * ``pump_interval`` — seconds between beat-scheduled pumps (the longest an event waits
      without a :meth:`CeleryDelivery.kick`).
    * ``batch_size`` — deliveries one pump claims at most. Keep it near what the Celery
      workers attempt in one ``pump_interval``: claims that wait in the broker longer than
      ``lease`` are claimed again by a later pump (the first task then finds nothing to take).
    * ``chunk`` — deliveries of one subscription per attempt task, attempted one after
      another and recorded together. Celery's per-task cost (a broker round trip, two
      database transactions, its own bookkeeping) dwarfs an attempt's: 10 per task delivered
      about 5x as much per process as 1 on the benchmark machine. The price: a process
      killed mid-chunk re-sends the chunk's attempts not yet recorded, and a slow endpoint
      holds its own chunk (never another endpoint's: chunks are per subscription).
    * ``per_endpoint`` — deliveries of one subscription one pump hands out at most, so one
      endpoint's backlog cannot fill the queue ahead of everyone else's; with one pump a
      second this caps each endpoint at that many attempts started per second.
    * ``lease`` — how long a claimed delivery stays reserved; keep it above the broker's
      queueing delay plus ``chunk`` x the transport's total timeout.
    * ``notify_interval``, ``notice_window``, ``notice_grace``, ``notice_lease`` — failure
      e-mails, as for :class:`~acadio_webhooks.worker.WorkerSettings`.
    * ``retention``, ``prune_interval``, ``prune_batch_size`` — how long history is kept
      and how it is pruned, as for :class:`~acadio_webhooks.worker.WorkerSettings`
      (``retention=None`` keeps everything and schedules no prune task).
    * ``queue`` — the Celery queue for every task (None: the app's default queue).
    """

    pump_interval: float = 1.0
    batch_size: int = 500
    chunk: int = 10
    per_endpoint: int = 100
    lease: timedelta = timedelta(minutes=5)
    notify_interval: float = 30.0
    notice_window: timedelta = DEFAULT_NOTICE_WINDOW
    notice_grace: timedelta = DEFAULT_NOTICE_GRACE
    notice_lease: timedelta = DEFAULT_NOTICE_LEASE
    retention: timedelta | None = DEFAULT_RETENTION
    prune_interval: timedelta = DEFAULT_PRUNE_INTERVAL
    prune_batch_size: int = 500
    queue: str | None = None

    def __post_init__(self) -> None:
        if min(self.batch_size, self.chunk, self.per_endpoint) < 1:
            raise ValueError("batch_size, chunk and per_endpoint must be >= 1")
        if self.pump_interval <= 0 or self.lease <= timedelta(0):
            raise ValueError("pump_interval and lease must be positive")
        check_pruning_settings(self.retention, self.prune_interval, self.prune_batch_size)


StoreSource = Store | str | Callable[[], Store]
"""A store, a URL for :func:`~acadio_webhooks.adapters.storage.open_store`, or a factory."""


class _ProcessResources:
    """The store, transport and runner of one worker process, made on first use there.

    Celery's prefork pool forks after importing the app: database connections and HTTP
    pools must be created in the child, never inherited, hence lazily and per process id.
    """

    def __init__(self, build: Callable[[], tuple[Store, Transport, _Runner]]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._made: tuple[Store, Transport, _Runner] | None = None

    def get(self) -> tuple[Store, Transport, _Runner]:
        with self._lock:
            if self._made is None or self._pid != os.getpid():
                self._made = self._build()
                self._pid = os.getpid()
            return self._made


class CeleryDelivery:
    """Registers the pump, attempt and notify tasks on ``app`` and schedules them with beat.

    ``store``: a URL (``postgresql://...``), a factory, or a store instance (only for the
    ``solo``/``threads`` pools: a forked child must not reuse its parent's connections).
    ``transport``: a factory of sync transports (default: ``HttpxTransport`` with
    ``endpoint_policy`` and ``resolver``). ``notifier``: a factory of the notifier for
    failure e-mails (None: notices stay queued in the store). ``policy`` and ``clock`` as for
    the workers. ``schedule=False`` leaves ``app.conf.beat_schedule`` alone (then run
    :attr:`pump_task` and :attr:`notify_task` on your own schedule).
    """

    def __init__(
        self,
        app: Any,
        store: StoreSource,
        *,
        settings: CelerySettings | None = None,
        policy: DeliveryPolicy | None = None,
        endpoint_policy: EndpointPolicy | None = None,
        resolver: Resolver | None = None,
        transport: Callable[[], Transport] | None = None,
        notifier: Callable[[], Notifier] | None = None,
        clock: Clock | None = None,
        metrics: DeliveryMetrics | None = None,
        name: str = "acadio_webhooks",
        schedule: bool = True,
    ) -> None:
        self.app = app
        self.settings = settings or CelerySettings()
        self._store_source = store
        self._policy = policy
        self._endpoint_policy = endpoint_policy
        self._resolver = resolver
        self._transport_factory = transport
        self._notifier_factory = notifier
        self._clock = clock
        self._metrics = metrics
        self._resources = _ProcessResources(self._build)
        options: dict[str, Any] = {"ignore_result": True}
        if self.settings.queue is not None:
            options["queue"] = self.settings.queue

        # Plain functions, not bound methods: Celery builds task classes from signatures.
        def pump() -> int:
            return self.pump()

        def attempt(task: Any, delivery_ids: list[str], pump_owner: str) -> int:
            return self.attempt(delivery_ids, pump_owner, str(task.request.id))

        def notify() -> int:
            return self.flush_notices()

        self.pump_task = app.task(name=f"{name}.pump", **options)(pump)
        self.attempt_task = app.task(
            name=f"{name}.attempt",
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            **options,
        )(attempt)

        def prune() -> int:
            return self.prune()

        self.notify_task = app.task(name=f"{name}.notify", **options)(notify)
        self.prune_task = None
        if self.settings.retention is not None:
            self.prune_task = app.task(name=f"{name}.prune", **options)(prune)
        if schedule:
            app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **self.beat_schedule()}

    def beat_schedule(self) -> dict[str, dict[str, Any]]:
        """The beat entries for the pump, the notices and pruning (merged into the app's by
        default)."""
        schedule = {
            self.pump_task.name: {
                "task": self.pump_task.name,
                "schedule": self.settings.pump_interval,
            },
            self.notify_task.name: {
                "task": self.notify_task.name,
                "schedule": self.settings.notify_interval,
            },
        }
        if self.prune_task is not None:
            schedule[self.prune_task.name] = {
                "task": self.prune_task.name,
                "schedule": self.settings.prune_interval.total_seconds(),
            }
        return schedule

    def kick(self) -> None:
        """Queue a pump now (e.g. from ``transaction.on_commit`` after an emit), so a new
        event does not wait for the next beat."""
        self.pump_task.apply_async()

    @property
    def metrics(self) -> DeliveryMetrics:
        """Counters of the attempts settled in this process."""
        return self._resources.get()[2].metrics

    # -- what the tasks do (callable directly, e.g. in tests with a solo worker) ------------

    def pump(self) -> int:
        """Claim due deliveries and send their attempt tasks; return how many were sent."""
        store, _transport, runner = self._resources.get()
        owner = f"celery-pump:{uuid.uuid4().hex}"
        cap = self.settings.per_endpoint
        held: dict[str, int] = {}
        sent = 0
        while sent < self.settings.batch_size:
            wanted = self.settings.batch_size - sent
            saturated = frozenset(sub for sub, count in held.items() if count >= cap)
            items = store.claim(
                now=runner.clock.now(),
                limit=wanted,
                owner=owner,
                lease=self.settings.lease,
                skip_subscriptions=saturated,
            )
            keep: list[WorkItem] = []
            excess: list[str] = []
            for item in items:
                count = held.get(item.subscription_id, 0)
                if count < cap:
                    keep.append(item)
                else:
                    excess.append(item.delivery_id)
                held[item.subscription_id] = count + 1
            if excess:
                store.release(excess, owner=owner)
            self._send(keep, owner, store)
            sent += len(keep)
            if len(items) < wanted or not keep:
                break
        return sent

    def attempt(self, delivery_ids: Sequence[str], pump_owner: str, task_id: str) -> int:
        """Take the pump's leases and attempt each delivery; return how many were attempted."""
        store, transport, runner = self._resources.get()
        owner = f"celery-task:{task_id}"
        items = store.take(
            delivery_ids,
            owner=pump_owner,
            new_owner=owner,
            now=runner.clock.now(),
            lease=self.settings.lease,
        )
        settlements: list[Settlement] = []
        for item in items:
            started, began, request = runner.begin(item)
            try:
                result = transport.send(request)
            except Exception as exc:  # noqa: BLE001 - see acadio_webhooks.worker._crashed
                result = _crashed(exc)
            settlements.append(runner.finish(item, result, started, began))
        runner.commit(settlements, owner=owner)
        return len(settlements)

    def flush_notices(self) -> int:
        """Mail due failure notices; return how many e-mails were sent."""
        return self._resources.get()[2].flush_notices()

    def prune(self) -> int:
        """Delete history past ``retention``; return how many events went (0 when another
        pruner holds the lease, or when ``retention`` is None)."""
        pruner = self._resources.get()[2].pruner
        report = pruner.prune() if pruner is not None else None
        return report.events if report is not None else 0

    # -- internals --------------------------------------------------------------------------

    def _send(self, items: list[WorkItem], owner: str, store: Store) -> None:
        # Chunks never mix subscriptions: a slow endpoint only ever holds up its own work.
        by_subscription: dict[str, list[str]] = {}
        for item in items:
            by_subscription.setdefault(item.subscription_id, []).append(item.delivery_id)
        chunks = [
            ids[start : start + self.settings.chunk]
            for ids in by_subscription.values()
            for start in range(0, len(ids), self.settings.chunk)
        ]
        sent = 0
        try:
            for sent, chunk in enumerate(chunks):  # noqa: B007 - read in the handler below
                self.attempt_task.apply_async(args=(chunk, owner))
        except Exception:
            # The broker refused: hand the rest back rather than leave it leased.
            store.release([i for chunk in chunks[sent:] for i in chunk], owner=owner)
            raise

    def _build(self) -> tuple[Store, Transport, _Runner]:
        source = self._store_source
        if isinstance(source, str):
            store = open_store(source)
        elif callable(source):
            store = source()
        else:
            store = source
        if self._transport_factory is not None:
            transport = self._transport_factory()
        else:
            from acadio_webhooks.adapters.transport.httpx import HttpxTransport

            transport = HttpxTransport(
                policy=self._endpoint_policy or EndpointPolicy(), resolver=self._resolver
            )
        worker_settings = WorkerSettings(
            lease=self.settings.lease,
            notice_window=self.settings.notice_window,
            notice_grace=self.settings.notice_grace,
            notice_lease=self.settings.notice_lease,
            retention=self.settings.retention,
            prune_interval=self.settings.prune_interval,
            prune_batch_size=self.settings.prune_batch_size,
        )
        runner = _make_runner(
            store,
            clock=self._clock,
            policy=self._policy,
            settings=worker_settings,
            notifier=self._notifier_factory() if self._notifier_factory else None,
            metrics=self._metrics,
            owner=None,
        )
        return store, transport, runner

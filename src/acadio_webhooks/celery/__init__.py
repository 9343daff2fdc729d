"""Deliver webhooks with Celery, for LMS stacks that already run it (``acadio-webhooks[celery]``).

::

    # lms/celery.py
    app = Celery("lms")
    webhooks = CeleryDelivery(app, "postgresql://webhooks@db/lms")

Nothing needs calling after an emit: on PostgreSQL each Celery worker listens for the
store's notification and starts a pump at once (elsewhere beat pumps every
``pump_interval``; :meth:`CeleryDelivery.kick` starts one sooner and costs the caller a
flag, not a broker round trip).

These tasks are registered on the host's app:

* ``acadio_webhooks.pump`` — claims due deliveries under a lease and sends one ``attempt``
  task per ``chunk`` of one subscription's deliveries. Pumps run as one *chain* across the
  fleet (under a named lease in the store): while due work remains, each pump queues the
  next behind its own attempt tasks, so the pool always has about
  :data:`~acadio_webhooks.celery._rounds.ROUND_SECONDS` of work queued, sized from how fast
  it takes it. Within a round every subscription with due work gets a share before any
  takes more, so one endpoint's backlog delays another's events by at most a round.
  Beat, kicks and notifications start a chain when none runs (otherwise they return at
  once). Messages carry delivery ids only: no payloads, no secrets in the broker.
* ``acadio_webhooks.attempt`` — first takes
  (:meth:`~acadio_webhooks.ports.storage.DeliveryQueue.take`) the leases from the pump (so
  of two copies of one message, only one finds work), then makes
  the attempts (``concurrency`` at once with the default async transport; see
  :mod:`acadio_webhooks.celery._senders`) and settles them through the same delivery core as
  the workers (:func:`~acadio_webhooks.domain.core.prepare`,
  :func:`~acadio_webhooks.domain.core.settle`). It starts no attempt after ``task_seconds``
  and gives the rest back, so a slow endpoint holds a pool process about that long.
  ``acks_late`` and ``reject_on_worker_lost``: a message is only acknowledged once its
  attempts are recorded.
* ``acadio_webhooks.notify`` — mails queued failure notices every ``notify_interval``.
* ``acadio_webhooks.prune`` — deletes history past ``retention`` every ``prune_interval``
  (one run at a time across the fleet, under the store's lease; see
  :class:`~acadio_webhooks.pruning.Pruner`). Not registered with ``retention=None``.

The store stays the source of truth, so Celery and ``acadio-webhooks worker`` processes can
share it without delivering an attempt twice. Two known Celery traps are designed around:

* Early acknowledgement loses a task whose worker dies: tasks ack late and are rejected
  (re-queued) when their worker process is lost. Even a lost message loses nothing: the
  delivery's lease runs out and a later pump claims it again.
* On Redis, a countdown or ETA longer than the visibility timeout is redelivered early and
  duplicates multiply. Retry delays here never touch the broker: a failed attempt's next
  time is written to the store (``next_attempt_at``, from the same retry policy) and a later
  pump picks it up when due. No task is ever sent with a countdown or ETA.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from acadio_webhooks.adapters.resolver import SystemResolver
from acadio_webhooks.adapters.storage import open_store
from acadio_webhooks.adapters.storage.sql.wakeup import PostgresWakeup
from acadio_webhooks.adapters.transport.default import default_async_transport
from acadio_webhooks.celery._fair import claim_round
from acadio_webhooks.celery._kick import Kicker
from acadio_webhooks.celery._resources import ProcessResources, listener_for
from acadio_webhooks.celery._rounds import RoundSizer, chunks_in_turn
from acadio_webhooks.celery._senders import AsyncSender, Sender, SyncSender
from acadio_webhooks.celery.settings import CelerySettings, StoreSource
from acadio_webhooks.domain.core import DeliveryPolicy
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.observability import DeliveryMetrics
from acadio_webhooks.ports.clock import Clock
from acadio_webhooks.ports.notifier import Notifier
from acadio_webhooks.ports.resolver import Resolver
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.ports.transport import Transport
from acadio_webhooks.worker._runner import _make_runner, _Runner
from acadio_webhooks.worker.settings import WorkerSettings

__all__ = ["CelerySettings", "CeleryDelivery"]

_log = logging.getLogger(__name__)

# How long a pump chain holds its lease without its next step running. The step waits in
# the broker behind one round (about ROUND_SECONDS of work); if it is lost (its process
# killed), beat starts a new chain once this has passed.
_CHAIN_LEASE = timedelta(seconds=15)
# At most one pump queued per this many seconds for kicks (a notification per emit).
_KICK_GAP = 0.05


class CeleryDelivery:
    """Registers the pump, attempt and notify tasks on ``app`` and schedules them with beat.

    ``store``: a URL (``postgresql://...``), a factory, or a store instance (only for the
    ``solo``/``threads`` pools: a forked child must not reuse its parent's connections).
    ``transport``: a factory of sync transports, attempted one after another (default: the
    fastest installed async transport — ``AiohttpTransport`` with the ``aiohttp`` extra,
    else ``AsyncHttpxTransport`` — with ``endpoint_policy`` and ``resolver``, on an event
    loop of each pool process, ``concurrency`` attempts of a task at once). ``notifier``: a
    factory of the notifier for failure e-mails (None: notices stay queued in the store).
    ``policy`` and ``clock`` as for the workers. ``schedule=False`` leaves
    ``app.conf.beat_schedule`` alone (then run :attr:`pump_task` and :attr:`notify_task` on
    your own schedule).
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
        self._resources = ProcessResources(self._build, owns_store=not isinstance(store, Store))
        self._rounds = RoundSizer(chunk=self.settings.chunk, largest=self.settings.batch_size)
        self._chain_lease = f"{name}.pump-chain"
        self._listener: PostgresWakeup | None = None
        options: dict[str, Any] = {"ignore_result": True}
        if self.settings.queue is not None:
            options["queue"] = self.settings.queue

        # Plain functions, not bound methods: Celery builds task classes from signatures.
        def pump(
            chain: str | None = None,
            size: int | None = None,
            handed: int = 0,
            sent_at: float | None = None,
        ) -> int:
            return self.pump(chain, size=size, handed=handed, sent_at=sent_at)

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
        self._kicker = Kicker(self.pump_task.apply_async, gap=_KICK_GAP)
        if schedule:
            app.conf.beat_schedule = {**(app.conf.beat_schedule or {}), **self.beat_schedule()}
        from celery import signals

        # A pool process opens its store and HTTP client as it starts, and closes them as it
        # stops.
        signals.worker_process_init.connect(self._warm_process, weak=False)
        signals.worker_process_shutdown.connect(self._close_process, weak=False)
        if self.settings.listen:
            signals.worker_ready.connect(self._start_listening, weak=False)
            signals.worker_shutdown.connect(self._stop_listening, weak=False)

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
        """Have a pump queued now rather than at the next beat (e.g. from
        ``transaction.on_commit`` after an emit on a store without ``LISTEN``).

        Returns at once: a thread of this process publishes the pump, one for any burst of
        kicks. Not needed on PostgreSQL, where the Celery workers listen for new work."""
        self._kicker.kick()

    @property
    def metrics(self) -> DeliveryMetrics:
        """Counters of the attempts settled in this process."""
        return self._resources.get()[2].metrics

    # -- what the tasks do (callable directly, e.g. in tests with a solo worker) ------------

    def pump(
        self,
        chain: str | None = None,
        *,
        size: int | None = None,
        handed: int = 0,
        sent_at: float | None = None,
    ) -> int:
        """Run one round of the pump chain; return how many deliveries it handed out.

        Without ``chain`` (beat, a kick, a notification), start a chain unless one runs:
        then return 0 at once, the running chain's next round sees the same work. The other
        arguments carry the chain's state from round to round: the last round's ``size``,
        how many it ``handed`` out, and when (``sent_at``, the clock's POSIX time)."""
        store, _sender, runner = self._resources.get()
        now = runner.clock.now()
        token = chain or f"celery-chain:{uuid.uuid4().hex}"
        if not store.acquire_lease(self._chain_lease, token, now=now, ttl=_CHAIN_LEASE):
            return 0
        if size is None or sent_at is None:
            size = self._rounds.first()
        else:
            size = self._rounds.next(size, handed, now.timestamp() - sent_at)
        owner = f"celery-pump:{uuid.uuid4().hex}"
        try:
            items = claim_round(
                store,
                now=now,
                size=size,
                share=self._rounds.share(size, self.settings.per_endpoint),
                owner=owner,
                lease=self.settings.lease,
            )
            if items:
                tasks = chunks_in_turn(items, self.settings.chunk)
                # The chain's next step goes halfway through the round: it claims the next
                # round while the pool still has the second half to work on, so no process
                # waits for a pump. The wait of the step measures the first half's pace.
                half = (len(tasks) + 1) // 2
                self._send(tasks[:half], owner, store)
                ahead = sum(len(task) for task in tasks[:half])
                self.pump_task.apply_async(args=(token, size, ahead, now.timestamp()))
                self._send(tasks[half:], owner, store)
        except BaseException:
            store.release_lease(self._chain_lease, token)  # beat starts a new chain
            raise
        if not items:
            store.release_lease(self._chain_lease, token)
        return len(items)

    def attempt(self, delivery_ids: Sequence[str], pump_owner: str, task_id: str) -> int:
        """Take the pump's leases and attempt each delivery; return how many were attempted.

        Starts no attempt after ``task_seconds``: the deliveries left are given back, due at
        once for the pump's next round."""
        store, sender, runner = self._resources.get()
        owner = f"celery-task:{task_id}"
        items = store.take(
            delivery_ids,
            owner=pump_owner,
            new_owner=owner,
            now=runner.clock.now(),
            lease=self.settings.lease,
        )
        deadline = time.monotonic() + self.settings.task_seconds
        settlements = sender.send_all(items, runner, deadline)
        runner.commit(settlements, owner=owner)
        started = {settlement.item.delivery_id for settlement in settlements}
        unstarted = [item.delivery_id for item in items if item.delivery_id not in started]
        if unstarted:
            store.release(unstarted, owner=owner)
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

    def _send(self, tasks: list[list[str]], owner: str, store: Store) -> None:
        sent = 0
        try:
            for sent, chunk in enumerate(tasks):  # noqa: B007 - read in the handler below
                self.attempt_task.apply_async(args=(chunk, owner))
        except Exception:
            # The broker refused: hand the rest back rather than leave it leased.
            store.release([i for chunk in tasks[sent:] for i in chunk], owner=owner)
            raise

    def _warm_process(self, **_kwargs: Any) -> None:
        # Made in a thread of the new pool process rather than by its first task: opening
        # the store and the HTTP client takes about 0.2 s, which delayed the first
        # deliveries after every worker start. Not in the signal itself: Celery waits for
        # it to start the process, and an unreachable database must not hold that up. The
        # first task waits for this (the resources' lock), or tries again if it failed.
        threading.Thread(target=self._warm, name="acadio-webhooks-warm", daemon=True).start()

    def _warm(self) -> None:
        try:
            self._resources.get()
        except Exception as error:  # noqa: BLE001 - the first task tries again and reports it
            _log.warning(
                "could not open the store and transport of this Celery pool process ahead "
                "of its first task (%s); the task will try again",
                type(error).__name__,
            )

    def _close_process(self, **_kwargs: Any) -> None:
        self._resources.close()

    def _start_listening(self, sender: Any = None, **_kwargs: Any) -> None:
        # worker_ready: in the worker's main process, once its pool has started.
        if getattr(sender, "app", None) is not self.app or self._listener is not None:
            return
        listener = listener_for(self._store_source, [self.kick])
        if listener is not None:
            self._listener = listener.start()

    def _stop_listening(self, sender: Any = None, **_kwargs: Any) -> None:
        if self._listener is not None and getattr(sender, "app", self.app) is self.app:
            self._listener.stop()
            self._listener = None

    def _build(self) -> tuple[Store, Sender, _Runner]:
        source = self._store_source
        if isinstance(source, str):
            store = open_store(source)
        elif callable(source):
            store = source()
        else:
            store = source
        sender: Sender
        if self._transport_factory is not None:
            sender = SyncSender(self._transport_factory())
        else:
            transport = default_async_transport(
                policy=self._endpoint_policy or EndpointPolicy(),
                resolver=self._resolver or SystemResolver(),
            )
            sender = AsyncSender(transport, self.settings.concurrency)
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
        return store, sender, runner

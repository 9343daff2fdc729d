"""``acadio-webhooks worker``: a long-running delivery process.

It runs one :class:`~acadio_webhooks.worker.AsyncWorker` until SIGTERM or SIGINT, then shuts
down gracefully: attempts in flight finish and are recorded, deliveries claimed but not yet
started are given back at once for other workers. Run as many as you like against PostgreSQL;
SQLite suits one.

The command is three steps — build the worker (:func:`build_worker`), wire the stop signals,
run (:func:`serve`) — so that further wake-up sources (a database notification listener)
can run beside ``worker.run`` in :func:`serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, get_args

from acadio_webhooks.cli._common import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_command,
    add_db_option,
    database_url,
    display_url,
    open_cli_store,
)
from acadio_webhooks.cli._worker_options import add_worker_options, build_notifier
from acadio_webhooks.event_loop import resolve_event_loop
from acadio_webhooks.event_loop import run as run_event_loop

if TYPE_CHECKING:
    from acadio_webhooks.ports.notifier import Notifier
    from acadio_webhooks.ports.storage import Store
    from acadio_webhooks.worker import AsyncWorker

__all__ = ["register", "build_worker", "serve", "WakeSource", "listen_for_due_work"]

logger = logging.getLogger("acadio_webhooks.cli.worker")

WakeSource = Callable[["AsyncWorker", asyncio.Event], Awaitable[None]]
"""A coroutine run beside the worker until stop is set, calling ``worker.wake()`` when new
work may be due (e.g. on a PostgreSQL notification)."""

_DESCRIPTION = """\
Deliver webhooks until stopped. SIGTERM or SIGINT (Ctrl-C) stops gracefully: attempts in
flight finish and are recorded; claimed deliveries not yet started are released at once.
Failure notices go to an SMTP server when --smtp-host is given, otherwise to the log.

examples:
  acadio-webhooks worker --db postgresql://webhooks@db/lms --concurrency 100
  SMTP_PASSWORD=... acadio-webhooks worker --db sqlite:///webhooks.db \\
      --smtp-host smtp.example.com --smtp-port 587 --smtp-security starttls \\
      --smtp-from webhooks@lms.example.com --smtp-user webhooks --smtp-password-env SMTP_PASSWORD
  acadio-webhooks worker --db postgresql://webhooks@db/lms --metrics-port 9464
"""


def register(commands: Any) -> None:
    """Add the ``worker`` subcommand."""
    parser = add_command(commands, "worker", "deliver webhooks until SIGTERM/SIGINT", _DESCRIPTION)
    add_db_option(parser)
    add_worker_options(parser)
    parser.set_defaults(handler=run)


@dataclass
class _Built:
    worker: AsyncWorker
    store: Store


def build_worker(args: argparse.Namespace, notifier: Notifier) -> _Built:
    """The store, transport and worker the options describe."""
    from acadio_webhooks.adapters.resolver import SystemResolver
    from acadio_webhooks.adapters.transport.default import (
        TransportName,
        default_async_transport,
        is_installed,
    )
    from acadio_webhooks.domain.endpoints import EndpointPolicy
    from acadio_webhooks.observability import DeliveryMetrics
    from acadio_webhooks.worker import AsyncWorker, WorkerSettings

    policy = EndpointPolicy(allow_insecure=args.allow_insecure_endpoints)
    requested = getattr(args, "transport", "auto")
    name: TransportName | None = None
    for known in get_args(TransportName):
        if requested == known:
            name = known
    # Before the store is opened: a usage error leaves nothing to close.
    if name in ("httptools", "aiohttp") and not is_installed(name):
        raise CommandError(
            f"--transport {name} needs {name}: pip install 'acadio-webhooks[{name}]'",
            EXIT_USAGE,
        )
    if args.metrics_port is not None and importlib.util.find_spec("prometheus_client") is None:
        raise CommandError(
            "--metrics-port needs prometheus-client: pip install 'acadio-webhooks[prometheus]'",
            EXIT_USAGE,
        )
    if args.otel and importlib.util.find_spec("opentelemetry") is None:
        raise CommandError(
            "--otel needs opentelemetry-api: pip install 'acadio-webhooks[otel]'", EXIT_USAGE
        )
    # The store before the transport: a missing key or an unreachable database stops the
    # command with nothing else opened yet.
    store = open_cli_store(args.db, must_exist=False)
    transport = default_async_transport(policy=policy, resolver=SystemResolver(), name=name)
    settings = WorkerSettings(
        concurrency=args.concurrency,
        per_endpoint=args.per_endpoint,
        poll_interval=args.poll_interval,
        lease=timedelta(seconds=args.lease),
        retention=args.retention,
    )
    metrics = DeliveryMetrics(endpoint_host_label=args.metrics_endpoint_host)
    worker = AsyncWorker(store, transport, settings=settings, notifier=notifier, metrics=metrics)
    return _Built(worker=worker, store=store)


async def serve(
    worker: AsyncWorker, stop: asyncio.Event, wake_sources: Sequence[WakeSource] = ()
) -> None:
    """Run ``worker`` until ``stop`` is set, with each wake source beside it."""
    helpers = [asyncio.ensure_future(source(worker, stop)) for source in wake_sources]
    try:
        await worker.run(stop)
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await worker.aclose()


async def listen_for_due_work(store: Store, worker: AsyncWorker, stop: asyncio.Event) -> None:
    """A wake source: on PostgreSQL, wake ``worker`` on every ``NOTIFY`` of due work, so a
    new event is picked up at once instead of at the next poll. Nothing on other stores."""
    from acadio_webhooks.adapters.storage.sql.wakeup import wakeup_for

    wakeup = wakeup_for(store, [worker.wake])
    if wakeup is None:
        return
    await asyncio.to_thread(wakeup.start)
    if wakeup.listening:
        logger.info("listening for PostgreSQL notifications of due deliveries")
    try:
        await stop.wait()
    finally:
        wakeup.stop()


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def request_stop(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            logger.warning("%s again: still finishing in-flight attempts", name)
            return
        logger.info("%s received: finishing in-flight attempts, then stopping", name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        if sys.platform == "win32":  # no add_signal_handler on Windows event loops
            signal.signal(
                signum, lambda number, _frame: loop.call_soon_threadsafe(request_stop, number)
            )
        else:
            loop.add_signal_handler(signum, request_stop, signum)


async def _main(args: argparse.Namespace, event_loop: str) -> None:
    notifier = build_notifier(args)
    built = build_worker(args, notifier)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    where = display_url(database_url(args.db, must_exist=False))
    mail = f"SMTP {args.smtp_host}" if args.smtp_host else "the log"
    kept = f"history kept {args.retention}" if args.retention else "history kept forever"
    logger.info(
        "worker %s started on %s, %s event loop: concurrency %d, %d per endpoint; "
        "failure notices to %s; %s",
        built.worker.owner,
        where,
        event_loop,
        args.concurrency,
        args.per_endpoint,
        mail,
        kept,
    )
    if args.allow_insecure_endpoints:
        logger.warning("insecure endpoints allowed (http://, loopback): development use only")
    try:
        with _metrics_served(args, built):
            _tune_process(args.concurrency)
            await serve(built.worker, stop, [functools.partial(listen_for_due_work, built.store)])
    finally:
        built.store.close()
    counts = built.worker.metrics.snapshot()
    logger.info(
        "worker stopped: %d attempts, %d delivered, %d to retry, %d failed",
        counts.attempts,
        counts.delivered,
        counts.retried,
        counts.failed,
    )


@contextmanager
def _metrics_served(args: argparse.Namespace, built: _Built) -> Iterator[None]:
    """``/metrics`` on ``--metrics-host``:``--metrics-port`` while the block runs, and
    OpenTelemetry with ``--otel``, if asked."""
    if args.otel:
        from acadio_webhooks.observability.otel import instrument, observe_backlog
        from acadio_webhooks.ports.storage import BacklogView

        instrument()
        if isinstance(built.store, BacklogView):
            observe_backlog(built.store)
        logger.info("tracing and metrics through OpenTelemetry's global providers")
    if args.metrics_port is None:
        yield
        return
    from acadio_webhooks.observability.prometheus import WebhooksCollector, serve_metrics

    collector = WebhooksCollector(built.worker.metrics, built.store)
    try:
        server = serve_metrics(collector, port=args.metrics_port, host=args.metrics_host)
    except OSError as exc:
        raise CommandError(
            f"cannot serve metrics on {args.metrics_host}:{args.metrics_port}: {exc.strerror}",
            EXIT_USAGE,
        ) from None
    logger.info("metrics at %s", server.url)
    try:
        yield
    finally:
        server.close()


def _tune_process(concurrency: int) -> None:
    """This process is the worker's own: set its garbage collector up for delivering
    (:func:`~acadio_webhooks.worker.tune_worker_process`) and say so."""
    from acadio_webhooks.worker import tune_worker_process

    tuning = tune_worker_process(concurrency)
    logger.info(
        "%d start-up objects frozen out of garbage-collection passes; young-generation "
        "threshold %d (was %d), room for the objects of %d attempts in flight",
        tuning.frozen,
        tuning.young_threshold,
        tuning.young_threshold_before,
        concurrency,
    )


def run(args: argparse.Namespace) -> int:
    """Run the worker until a stop signal."""
    try:
        event_loop = resolve_event_loop(getattr(args, "event_loop", "auto"))
    except ImportError as exc:
        raise CommandError(f"--event-loop uvloop: {exc}", EXIT_USAGE) from None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("acadio_webhooks")
    root.addHandler(handler)
    root.setLevel(args.log_level)
    try:
        run_event_loop(_main(args, event_loop), loop=event_loop)
    finally:
        root.removeHandler(handler)
    return EXIT_OK

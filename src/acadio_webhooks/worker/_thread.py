""":class:`WorkerThread`: an :class:`~acadio_webhooks.worker.AsyncWorker` on its own event loop
in a background thread, for sync hosts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from acadio_webhooks.event_loop import EventLoopName, resolve_event_loop
from acadio_webhooks.event_loop import run as run_event_loop
from acadio_webhooks.worker._async import AsyncWorker

logger = logging.getLogger("acadio_webhooks.worker")


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

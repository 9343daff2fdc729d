"""What each Celery process opens once and keeps: its store, its sender and runner
(:class:`ProcessResources`), and the main process's PostgreSQL listener."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from acadio_webhooks.adapters.storage.sql._engine import normalise_url
from acadio_webhooks.adapters.storage.sql.wakeup import PostgresWakeup, wakeup_for
from acadio_webhooks.celery._senders import Sender
from acadio_webhooks.celery.settings import StoreSource
from acadio_webhooks.ports.storage import Store
from acadio_webhooks.worker._runner import _Runner

__all__ = ["ProcessResources", "listener_for"]


class ProcessResources:
    """The store, transport and runner of one worker process, made on first use there.

    Celery's prefork pool forks after importing the app: database connections and HTTP
    pools must be created in the child, never inherited, hence lazily and per process id.
    """

    def __init__(
        self, build: Callable[[], tuple[Store, Sender, _Runner]], *, owns_store: bool
    ) -> None:
        self._build = build
        self._owns_store = owns_store
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._made: tuple[Store, Sender, _Runner] | None = None

    def get(self) -> tuple[Store, Sender, _Runner]:
        with self._lock:
            if self._made is None or self._pid != os.getpid():
                self._made = self._build()
                self._pid = os.getpid()
            return self._made

    def close(self) -> None:
        """Close what this process made (its pool process is stopping); idempotent."""
        with self._lock:
            made, self._made = self._made, None
            if made is None or self._pid != os.getpid():
                return
            store, sender, _runner = made
            sender.close()
            if self._owns_store:  # a store instance is the host's to close
                store.close()


def listener_for(source: StoreSource, callbacks: list[Callable[[], None]]) -> PostgresWakeup | None:
    """A (not yet started) listener on the store's PostgreSQL database, or None when the
    store is not on PostgreSQL."""
    if isinstance(source, str):
        if normalise_url(source).get_backend_name() != "postgresql":
            return None
        return PostgresWakeup(source, callbacks)
    if not callable(source):
        return wakeup_for(source, callbacks)
    # Made in the worker's main process only for its address (the listener keeps its own
    # connection), then closed at once: a connection must never cross a fork.
    store = source()
    try:
        return wakeup_for(store, callbacks)
    finally:
        store.close()

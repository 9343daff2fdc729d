"""Wake idle workers the moment PostgreSQL says deliveries are due (``LISTEN``/``NOTIFY``).

The SQL store sends ``NOTIFY acadio_webhooks_due`` in the transaction that queues deliveries
(``enqueue``, ``resend``, ``resend_failed``, ``release``), so the notification leaves on
commit only. :class:`PostgresWakeup` keeps one dedicated connection listening on that channel
in a daemon thread and calls its callbacks — typically :meth:`AsyncWorker.wake
<acadio_webhooks.worker.AsyncWorker.wake>`, which is safe from any thread — on each one.

Notifications are only a shortcut: a worker that misses one (listener reconnecting, network
blip) still finds the work at its next poll, and after every (re)connection the listener
wakes its workers once to cover what it may have missed. Nothing depends on delivery of a
notification, so nothing is lost when one is.

::

    wakeup = PostgresWakeup("postgresql://webhooks@db/lms", [worker.wake]).start()
    ...
    wakeup.stop()
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from acadio_webhooks.adapters.storage.sql._engine import normalise_url
from acadio_webhooks.adapters.storage.sql._queue import DUE_CHANNEL

__all__ = ["DUE_CHANNEL", "APPLICATION_NAME", "PostgresWakeup", "wakeup_for"]

logger = logging.getLogger("acadio_webhooks.wakeup")

APPLICATION_NAME = "acadio-webhooks-listen"
"""The listener connection's ``application_name``, to spot it in ``pg_stat_activity``."""

# How often the listening thread looks at its stop flag between notifications; it waits on
# the connection's socket meanwhile, so this costs no database traffic.
_STOP_CHECK_SECONDS = 0.2


class PostgresWakeup:
    """A thread that ``LISTEN`` s on ``acadio_webhooks_due`` and calls callbacks on each
    notification (see the module docstring).

    ``target``: the store's PostgreSQL URL (``postgresql://...``) or SQLAlchemy ``Engine``.
    Reconnects after a failure, waiting ``reconnect_delay`` seconds, doubling up to
    ``max_reconnect_delay``. Callbacks run on the listener thread: keep them quick and
    thread-safe. A callback that raises is logged and the others still run.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | URL | Engine,
        callbacks: Iterable[Callable[[], None]] = (),
        *,
        reconnect_delay: float = 0.5,
        max_reconnect_delay: float = 30.0,
    ) -> None:
        url = normalise_url(target.url if isinstance(target, Engine) else target)
        if url.get_backend_name() != "postgresql":
            raise ValueError(f"PostgresWakeup needs a PostgreSQL URL, not {url.drivername!r}")
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._where = url.render_as_string(hide_password=True)
        self._callbacks = list(callbacks)
        self._lock = threading.Lock()
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self.notifications = 0
        """Notifications received so far (for metrics and tests)."""

    def __repr__(self) -> str:
        return f"PostgresWakeup({self._where!r}, listening={self.listening})"

    @property
    def listening(self) -> bool:
        """Whether the listener holds a connection with ``LISTEN`` in effect right now."""
        return self._listening.is_set()

    def add(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on every notification from now on."""
        with self._lock:
            self._callbacks.append(callback)

    def remove(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback`` (no error if it was not added)."""
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def start(self, *, wait: float = 5.0) -> PostgresWakeup:
        """Start listening; return once ``LISTEN`` is in effect or after ``wait`` seconds.

        If PostgreSQL cannot be reached yet, the thread keeps retrying in the background
        (workers poll meanwhile), so this never raises for a database that is down.
        """
        if self._thread is not None:
            raise RuntimeError("PostgresWakeup.start() called twice")
        self._thread = threading.Thread(
            target=self._run, name="acadio-webhooks-listen", daemon=True
        )
        self._thread.start()
        self._listening.wait(wait)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait up to ``timeout`` seconds for the thread. Idempotent."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def __enter__(self) -> PostgresWakeup:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the listener thread ---------------------------------------------------------------

    def _run(self) -> None:
        import psycopg

        delay = self._reconnect_delay
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._conninfo, autocommit=True, application_name=APPLICATION_NAME
                ) as conn:
                    conn.execute(f"LISTEN {DUE_CHANNEL}")
                    self._listening.set()
                    delay = self._reconnect_delay
                    # Anything queued while nobody listened would otherwise wait for a poll.
                    self._fire()
                    while not self._stopping.is_set():
                        for _notification in conn.notifies(timeout=_STOP_CHECK_SECONDS):
                            self.notifications += 1
                            self._fire()
            except psycopg.Error as exc:
                # The message may name the host but never the password (not in conninfo
                # errors); the class says enough to act on.
                logger.warning(
                    "listening for due deliveries on %s failed (%s); retrying in %.1f s",
                    self._where,
                    type(exc).__name__,
                    delay,
                )
            finally:
                self._listening.clear()
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, self._max_reconnect_delay)

    def _fire(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            _call_safely(callback)


def _call_safely(callback: Callable[[], None]) -> None:
    # One failing callback must not silence the others, nor end the listener.
    try:
        callback()
    except Exception:
        logger.exception("a wake-up callback raised")


def wakeup_for(
    store: object, callbacks: Iterable[Callable[[], None]] = ()
) -> PostgresWakeup | None:
    """A (not yet started) :class:`PostgresWakeup` for ``store`` if it is a PostgreSQL
    :class:`~acadio_webhooks.adapters.storage.sql.SqlStore`, else None (SQLite and memory
    stores have no notifications; their workers poll)."""
    from acadio_webhooks.adapters.storage.sql.store import SqlStore

    if isinstance(store, SqlStore) and store.dialect == "postgresql":
        return PostgresWakeup(store.engine, callbacks)
    return None

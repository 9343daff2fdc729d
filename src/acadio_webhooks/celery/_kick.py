"""Queue a pump without making the caller wait for the broker.

``CeleryDelivery.kick()`` is called in the host's request (after an emit) and by the worker's
``LISTEN`` thread on every notification. Publishing a message costs a broker round trip
(hundreds of microseconds); setting a flag costs one. A :class:`Kicker` sets the flag and a
daemon thread of its own publishes: one pump for any number of kicks that arrive while it
publishes or within ``gap`` seconds after, so a burst of emits queues a pump or two, not one
each. A kick is a shortcut, never a duty: beat pumps anyway, so a pump lost with the process
(a daemon thread dies with it) only waits for the next beat.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["Kicker"]

logger = logging.getLogger("acadio_webhooks.celery")


class Kicker:
    """Calls ``send`` on a thread of its own soon after :meth:`kick`, at most once per
    ``gap`` seconds (later kicks are folded into the next call)."""

    def __init__(self, send: Callable[[], None], *, gap: float) -> None:
        self._send = send
        self._gap = gap
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._wanted = threading.Event()

    def kick(self) -> None:
        """Ask for a call of ``send``; returns at once."""
        if self._pid != os.getpid():  # first use, or a forked child: threads do not survive
            self._start()
        self._wanted.set()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._wanted = threading.Event()
            threading.Thread(target=self._run, name="acadio-webhooks-kick", daemon=True).start()
            self._pid = os.getpid()

    def _run(self) -> None:
        wanted = self._wanted
        while True:
            wanted.wait()
            wanted.clear()
            try:
                self._send()
            except Exception:
                # The broker is away: beat's next pump covers this one.
                logger.warning("could not queue a pump after a kick", exc_info=True)
            time.sleep(self._gap)

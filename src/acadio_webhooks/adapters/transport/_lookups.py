"""Name lookups bounded in time and in threads.

A blocking lookup (``getaddrinfo``) cannot be interrupted, so the transports run it in a daemon
thread and wait only as long as the attempt's total timeout allows (the async ones wait from a
worker thread of their own, which a cancellation abandons). A resolver that never answers
would then leave one thread behind per attempt; :class:`LookupPool` bounds them:

* a lookup still running for the same resolver, host and port is joined, not started again,
  so all the attempts at an endpoint whose DNS hangs share one thread;
* at most ``max_running`` lookups run at once in the process (:data:`SHARED_LOOKUPS`, shared
  by every transport); past that an attempt fails at once with a
  :class:`~acadio_webhooks.errors.ResolutionError` naming the host and the cause, instead of
  adding a thread.

Nothing is cached: a lookup that has finished is forgotten, and the next connection resolves
afresh (the endpoint policy's check at connection time depends on it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from acadio_webhooks.errors import ResolutionError
from acadio_webhooks.ports.resolver import IPAddress, Resolver

__all__ = ["LookupPool", "SHARED_LOOKUPS", "MAX_RUNNING_LOOKUPS", "LOOKUP_THREAD_NAME"]

MAX_RUNNING_LOOKUPS = 64
"""Lookups of distinct names running at once in a process: far more than healthy DNS ever
has in flight (each takes milliseconds), few enough that hanging ones cost little."""

LOOKUP_THREAD_NAME = "acadio-webhooks-resolve"

_Key = tuple[int, str, int]


class _Lookup:
    """One running lookup: what it found or raised, once ``done`` is set."""

    __slots__ = ("addresses", "done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.addresses: Sequence[IPAddress] = ()
        self.error: Exception | None = None


class LookupPool:
    """Runs blocking lookups in daemon threads: one per name at a time, ``max_running`` in all."""

    def __init__(self, max_running: int = MAX_RUNNING_LOOKUPS) -> None:
        if max_running < 1:
            raise ValueError("a lookup pool needs room for at least one lookup")
        self.max_running = max_running
        self._lock = threading.Lock()
        self._running: dict[_Key, _Lookup] = {}

    def resolve(
        self, resolver: Resolver, host: str, port: int, timeout: float
    ) -> Sequence[IPAddress]:
        """``resolver.resolve(host, port)``, waited for at most ``timeout`` seconds.

        Raises :class:`TimeoutError` when the time runs out (the lookup goes on in its thread,
        and attempts at the same name join it meanwhile), :class:`ResolutionError` when
        ``max_running`` lookups of other names are all still running, and whatever the
        resolver raised.
        """
        # The key holds the resolver's id only while its thread holds the resolver itself,
        # so the id cannot be reused by another resolver meanwhile.
        key = (id(resolver), host, port)
        with self._lock:
            lookup = self._running.get(key)
            started = lookup is None
            if lookup is None:
                if len(self._running) >= self.max_running:
                    raise ResolutionError(
                        f"cannot look up {host!r} now: {self.max_running} name lookups are "
                        "already running and none has answered (is the resolver hanging?)"
                    )
                lookup = self._running[key] = _Lookup()
        if started:
            self._start(key, lookup, resolver, host, port)
        if not lookup.done.wait(timeout):
            raise TimeoutError(f"resolving {host!r} took longer than the attempt's total timeout")
        if lookup.error is not None:
            raise lookup.error
        return lookup.addresses

    @property
    def running(self) -> int:
        """How many lookups are running now."""
        with self._lock:
            return len(self._running)

    def _start(self, key: _Key, lookup: _Lookup, resolver: Resolver, host: str, port: int) -> None:
        # A daemon: a lookup that never returns must not keep the interpreter from exiting.
        thread = threading.Thread(
            target=self._run,
            args=(key, lookup, resolver, host, port),
            name=LOOKUP_THREAD_NAME,
            daemon=True,
        )
        try:
            thread.start()
        except RuntimeError as exc:  # the process is out of threads
            self._finish(key, lookup, ResolutionError(f"cannot look up {host!r} now: {exc}"))

    def _run(self, key: _Key, lookup: _Lookup, resolver: Resolver, host: str, port: int) -> None:
        error: Exception | None = None
        try:
            lookup.addresses = list(resolver.resolve(host, port))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting attempts, which raise it
            error = exc
        self._finish(key, lookup, error)

    def _finish(self, key: _Key, lookup: _Lookup, error: Exception | None) -> None:
        lookup.error = error
        with self._lock:
            self._running.pop(key, None)
        lookup.done.set()


SHARED_LOOKUPS = LookupPool()
"""The pool every sync transport of the process resolves through."""

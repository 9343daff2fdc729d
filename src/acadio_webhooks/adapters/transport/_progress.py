"""Where an async attempt is, so that one cut off by its total timeout can say what it was
doing and with which host.

A total timeout cancels the attempt wherever it is, and the clients then report a bare
``TimeoutError()``. So the async transports give each attempt an :class:`AttemptProgress`
in a context variable (it reaches the connection backend, the resolver and any task the client
starts for the attempt, since tasks copy the context), and the steps of the attempt move it on
with :func:`advance`. The error then reads, for instance, "the attempt's total timeout (20 s)
ran out during the TLS handshake with hooks.example.com". Only the URL's host is ever named:
the query string (and the userinfo, which the endpoint policy refuses anyway) may hold the
receiver's token.
"""

from __future__ import annotations

import enum
from contextvars import ContextVar

from acadio_webhooks.domain.messages import ErrorKind, TransportResult

__all__ = ["Phase", "AttemptProgress", "advance", "connected", "tracking", "total_timeout_result"]


class Phase(enum.IntEnum):
    """The phases of one attempt, in the order an attempt goes through them."""

    WAITING_FOR_CONNECTION = 0  # a free connection in the pool, or one of the pool's slots
    NAME_LOOKUP = 1
    CONNECT = 2
    TLS_HANDSHAKE = 3
    SENDING = 4
    WAITING_FOR_RESPONSE = 5
    READING_BODY = 6


_DURING = {
    Phase.WAITING_FOR_CONNECTION: "while waiting for a free connection to {host}",
    Phase.NAME_LOOKUP: "during the name lookup of {host}",
    Phase.CONNECT: "while connecting to {host}",
    Phase.TLS_HANDSHAKE: "during the TLS handshake with {host}",
    Phase.SENDING: "while sending the request to {host}",
    Phase.WAITING_FOR_RESPONSE: "while waiting for the response from {host}",
    Phase.READING_BODY: "while reading the response body from {host}",
}


class AttemptProgress:
    """The phase one attempt is in, the host it is for, and whether it speaks TLS."""

    __slots__ = ("host", "phase", "tls")

    def __init__(self, host: str, *, tls: bool) -> None:
        self.host = host
        self.tls = tls
        self.phase = Phase.WAITING_FOR_CONNECTION

    def advance(self, phase: Phase) -> None:
        """Enter ``phase``.

        Opening a connection (lookup, connect, TLS) may start over, when one address fails
        and the next is tried or a pooled connection turns out dead; the exchange only moves
        forward, so a request body whose writing ends after the response began to arrive
        does not take the attempt back to "waiting for the response".
        """
        if phase <= Phase.TLS_HANDSHAKE or phase > self.phase:
            self.phase = phase

    def during(self) -> str:
        """The phase and the host, as the end of a sentence."""
        return _DURING[self.phase].format(host=self.host)


_current: ContextVar[AttemptProgress | None] = ContextVar(
    "acadio_webhooks_attempt_progress", default=None
)


def advance(phase: Phase) -> None:
    """Move the current attempt (if any is tracked in this context) to ``phase``."""
    progress = _current.get()
    if progress is not None:
        progress.advance(phase)


def connected() -> None:
    """The current attempt's TCP connection is up: next comes TLS, or the request itself."""
    progress = _current.get()
    if progress is not None:
        progress.advance(Phase.TLS_HANDSHAKE if progress.tls else Phase.SENDING)


class tracking:  # noqa: N801 - used like contextlib's lower-case context managers
    """``with tracking(host, tls=...) as progress:`` tracks an attempt at ``host`` for the
    code run inside the block (a class, not ``@contextmanager``: it runs once per attempt)."""

    __slots__ = ("_progress", "_token")

    def __init__(self, host: str, *, tls: bool) -> None:
        self._progress = AttemptProgress(host, tls=tls)

    def __enter__(self) -> AttemptProgress:
        self._token = _current.set(self._progress)
        return self._progress

    def __exit__(self, *exc_info: object) -> None:
        _current.reset(self._token)


def total_timeout_result(
    progress: AttemptProgress, total: float, duration: float
) -> TransportResult:
    """The result of an attempt that the total timeout ended."""
    error = f"TimeoutError: the attempt's total timeout ({total:g} s) ran out {progress.during()}"
    return TransportResult(
        status_code=None, duration=duration, error_kind=ErrorKind.TIMEOUT, error=error
    )

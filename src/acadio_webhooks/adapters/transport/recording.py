"""Recording transports for tests: a handler function decides each response, as with
httpx's ``MockTransport``, and every request is kept for assertions.

::

    transport = RecordingTransport(lambda request: 500 if "broken" in request.url else 200)
    ...
    assert [r.headers["webhook-id"] for r in transport.requests] == [event_id]
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable

from acadio_webhooks.domain.messages import OutboundRequest, TransportResult

__all__ = ["Handler", "RecordingTransport", "AsyncRecordingTransport"]

Handler = Callable[[OutboundRequest], int | TransportResult]
"""Decides the outcome of one request: an HTTP status code, or a full ``TransportResult``
(for timeouts, connection errors, ``Retry-After``...)."""


def _result(outcome: int | TransportResult) -> TransportResult:
    if isinstance(outcome, TransportResult):
        return outcome
    return TransportResult(status_code=outcome, duration=0.001)


class _Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[OutboundRequest] = []
        self.closed = False

    def _record(self, request: OutboundRequest) -> None:
        if self.closed:
            raise RuntimeError("transport used after close()")
        with self._lock:
            self.requests.append(request)

    def requests_to(self, url: str) -> list[OutboundRequest]:
        """The recorded requests sent to ``url``."""
        with self._lock:
            return [request for request in self.requests if request.url == url]


class RecordingTransport(_Recorder):
    """A sync :class:`~acadio_webhooks.ports.transport.Transport` answering from ``handler``."""

    def __init__(self, handler: Handler = lambda _request: 200) -> None:
        super().__init__()
        self._handler = handler

    def send(self, request: OutboundRequest) -> TransportResult:
        """Record the request and return the handler's outcome."""
        self._record(request)
        return _result(self._handler(request))

    def close(self) -> None:
        """Refuse further use."""
        self.closed = True


class AsyncRecordingTransport(_Recorder):
    """The async twin; ``handler`` may be sync or async."""

    def __init__(
        self,
        handler: Handler | Callable[[OutboundRequest], Awaitable[int | TransportResult]] = (
            lambda _request: 200
        ),
    ) -> None:
        super().__init__()
        self._handler = handler

    async def send(self, request: OutboundRequest) -> TransportResult:
        """Record the request and return the handler's outcome."""
        self._record(request)
        outcome = self._handler(request)
        if isinstance(outcome, Awaitable):
            outcome = await outcome
        return _result(outcome)

    async def close(self) -> None:
        """Refuse further use."""
        self.closed = True

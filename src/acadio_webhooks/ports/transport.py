"""The transport port: how one signed request reaches an endpoint.

Adapters: :mod:`acadio_webhooks.adapters.transport.httpx` (a core dependency),
:mod:`acadio_webhooks.adapters.transport.httptools` (``acadio-webhooks[httptools]``) and
:mod:`acadio_webhooks.adapters.transport.aiohttp` (``acadio-webhooks[aiohttp]``); the async
default is the fastest installed (see :mod:`acadio_webhooks.adapters.transport.default`); tests use
:class:`acadio_webhooks.testing.RecordingTransport`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from acadio_webhooks.domain.messages import OutboundRequest, TransportResult

__all__ = ["Transport", "AsyncTransport"]


@runtime_checkable
class Transport(Protocol):
    """Sends one request synchronously (for sync hosts and threaded workers).

    Contract, shared with :class:`AsyncTransport`:

    * POST ``request.body`` to ``request.url`` with exactly ``request.headers``.
    * Never follow redirects: a 3xx is returned as it is (and the core counts it as failed).
    * Before connecting, resolve the host and refuse (``ErrorKind.BLOCKED``) any address the
      endpoint policy forbids; connect to the address that was checked (pinning), so a DNS
      answer that changes between check and connect cannot reach a private network.
    * Bound the attempt: connect, read and total timeouts; read at most a capped number of
      response bytes and keep a short excerpt.
    * Never raise for anything the endpoint or network does: return a
      :class:`TransportResult` with ``error_kind`` set instead. Raise only for programming
      errors or use after ``close()``.
    """

    def send(self, request: OutboundRequest) -> TransportResult:
        """Make one attempt and report what happened."""
        ...

    def close(self) -> None:
        """Release pooled connections. Idempotent."""
        ...


@runtime_checkable
class AsyncTransport(Protocol):
    """The async twin of :class:`Transport`, with the same contract, awaited."""

    async def send(self, request: OutboundRequest) -> TransportResult:
        """Make one attempt and report what happened."""
        ...

    async def close(self) -> None:
        """Release pooled connections. Idempotent."""
        ...

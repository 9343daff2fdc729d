"""httpcore network backends that pin each connection to a checked address and bound every
socket wait by the attempt's deadline: what the httpx transports plug into their pools.

httpx resolves through httpcore's backend, so the backend is where the pinning has to be:
it resolves the host through the injected resolver, checks every address against the
endpoint policy and connects only to a checked one (see :mod:`._common`).
"""

from __future__ import annotations

import contextvars
import ssl
import time
import typing
from collections.abc import Iterable

import anyio
import httpcore

from acadio_webhooks.adapters.transport._common import (
    checked_addresses,
    checked_addresses_async,
    checked_addresses_within,
)
from acadio_webhooks.adapters.transport._progress import (
    Phase,
    advance,
)
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.ports.resolver import Resolver

__all__ = ["PinningBackend", "AsyncPinningBackend", "attempt_deadline"]

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


# ---------------------------------------------------------------------------------------------
# Sync: a backend that pins connections and clamps every socket wait to the attempt's deadline.

attempt_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "acadio_webhooks_httpx_deadline", default=None
)


def _clamped(timeout: float | None, expired: type[Exception]) -> float | None:
    deadline = attempt_deadline.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the attempt's total timeout expired")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.start_tls(
            ssl_context, server_hostname, _clamped(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class PinningBackend(httpcore.NetworkBackend):
    def __init__(self, policy: EndpointPolicy, resolver: Resolver) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        # Bounded by what is left of the total, as the async twin's cancel scope bounds it.
        remaining = _clamped(None, httpcore.ConnectTimeout)
        try:
            if remaining is None:  # no attempt deadline: a bare pool, used outside send()
                addresses = checked_addresses(self._policy, self._resolver, host, port)
            else:
                addresses = checked_addresses_within(
                    self._policy, self._resolver, host, port, remaining
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=_clamped(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None  # checked_addresses never returns an empty list
        raise failure

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# ---------------------------------------------------------------------------------------------
# Async: the same pinning; the total timeout is a cancel scope around the whole attempt.


class _AttemptStream(httpcore.AsyncNetworkStream):
    """Tells the attempt's progress what the stream does, and closes the TCP stream when its
    TLS handshake does not finish.

    Writes are the request going out, reads the wait for the response (:meth:`send` marks
    the body's reading), so an attempt cut off by its total timeout can say where it was.

    httpcore closes the socket when the handshake fails with an exception, but not when it is
    cancelled: the attempt's total timeout, a cancel scope, cancels it when an endpoint
    accepts the connection and never answers the handshake, and the socket was left open
    until the garbage collector found it (encode/httpcore#443 is the same leak).
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        advance(Phase.WAITING_FOR_RESPONSE)
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        advance(Phase.SENDING)
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's stream signature
    ) -> httpcore.AsyncNetworkStream:
        advance(Phase.TLS_HANDSHAKE)
        try:
            return await self._inner.start_tls(ssl_context, server_hostname, timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):  # closing a plain TCP socket cannot hang
                await self._inner.aclose()
            raise

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class AsyncPinningBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: EndpointPolicy, resolver: Resolver, lookup_timeout: float) -> None:
        self._policy = policy
        self._resolver = resolver
        self._lookup_timeout = lookup_timeout
        self._inner = httpcore.AnyIOBackend()  # anyio: runs on asyncio and on trio

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses_async(
            self._policy, self._resolver, host, port, self._lookup_timeout
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
                return _AttemptStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:  # noqa: PERF203
                failure = exc  # try the next checked address, as happy eyeballs would
        assert failure is not None  # checked_addresses never returns an empty list
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

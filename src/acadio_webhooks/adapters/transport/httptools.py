"""The httptools transport: :class:`HttptoolsTransport` (``acadio-webhooks[httptools]``).

HTTP/1.1 on asyncio's own connections, the responses parsed by
`httptools <https://github.com/MagicStack/httptools>`_ (Node.js's llhttp parser, as uvicorn
uses it). It spends a third of aiohttp's CPU on an attempt (docs/performance.md, "Without
aiohttp"), so it is the worker's default whenever it is installed. Same contract as the other
transports (:class:`acadio_webhooks.ports.transport.AsyncTransport`), asyncio only.

**Pinning.** A new connection resolves the URL's host through the injected
:class:`~acadio_webhooks.ports.resolver.Resolver`, refuses it unless the
:class:`~acadio_webhooks.domain.endpoints.EndpointPolicy` accepts every address, and connects
to those checked addresses only, with TLS SNI and certificate verification on the URL's host
name. Kept-alive connections are reused for the same scheme, host and port only.

Requests carry exactly their own headers plus ``Host`` and ``Content-Length``. Responses are
read up to the body cap (``Content-Length``, chunked and close-delimited bodies alike), never
decompressed; redirects are returned, not followed; informational (1xx) responses are skipped.
A connection is reused only after a whole response whose server keeps it alive, with nothing
of the request left unsent and nothing after the response: anything else closes it. A
response head over 64 KiB is a protocol error. ``timeouts.write`` is covered by
``timeouts.total``, as in the aiohttp transport.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from functools import lru_cache
from typing import TypeVar
from urllib.parse import quote, urlsplit

from typing_extensions import Unpack

from acadio_webhooks.adapters.transport._base import TransportBase, TransportOptions
from acadio_webhooks.adapters.transport._common import (
    checked_addresses_async,
    classify_error,
    error_result,
)
from acadio_webhooks.adapters.transport._httptools_connection import (
    MAX_RESPONSE_HEAD,
    Connection,
    HttpProtocolError,
    HttpTimeout,
    TotalTimeout,
)
from acadio_webhooks.adapters.transport._progress import (
    AttemptProgress,
    Phase,
    advance,
    connected,
    total_timeout_result,
    tracking,
)
from acadio_webhooks.domain.endpoints import ParsedEndpoint
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest, TransportResult
from acadio_webhooks.errors import InvalidEndpoint, ResolutionError
from acadio_webhooks.ports.resolver import IPAddress

__all__ = [
    "MAX_RESPONSE_HEAD",
    "HttptoolsTransport",
    "HttpConnectError",
    "HttpProtocolError",
    "HttpTimeout",
]

_T = TypeVar("_T")

CLOSE_GRACE = 1.0
"""Seconds :meth:`HttptoolsTransport.close` waits for its connections to shut gracefully (an
event loop that stops right after would leave them half closed) before cutting them off."""
_Key = tuple[str, str, int]  # scheme, host, port: what a kept-alive connection may be reused for

# Characters a request target keeps as they are; anything else is percent-encoded.
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._"


class HttpConnectError(OSError):
    """Opening a connection to the endpoint failed (every address was tried)."""


# What a failing endpoint or network can raise here (HttpConnectError and TLS errors are
# OSErrors); anything else is a bug and propagates.
_ATTEMPT_FAILURES = (HttpProtocolError, HttpTimeout, InvalidEndpoint, ResolutionError, OSError)


@lru_cache(maxsize=4096)
def _request_line_and_host(url: str, endpoint: ParsedEndpoint) -> str:
    """``POST <target> HTTP/1.1`` and the ``Host`` header line of ``url``, as they are sent."""
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    return f"POST {target} HTTP/1.1\r\nHost: {endpoint.authority}\r\n"


def _encoded_request(request: OutboundRequest, endpoint: ParsedEndpoint) -> bytes:
    headers = request.headers
    text = (
        _request_line_and_host(request.url, endpoint)
        + f"Content-Length: {len(request.body)}\r\n"
        + "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        + "\r\n"
    )
    # Request line, Host, Content-Length, the headers, the blank line: one line break each.
    if text.count("\n") != len(headers) + 4 or text.count("\r") != len(headers) + 4:
        raise ValueError("a request header name or value holds a line break")
    return text.encode("latin-1")


if sys.version_info >= (3, 11):

    async def _before(deadline: float, awaitable: Awaitable[_T]) -> _T:
        async with asyncio.timeout_at(deadline):
            return await awaitable

else:  # pragma: no cover - Python 3.10

    async def _before(deadline: float, awaitable: Awaitable[_T]) -> _T:
        remaining = deadline - asyncio.get_running_loop().time()
        return await asyncio.wait_for(awaitable, max(0.0, remaining))


async def _within(seconds: float, awaitable: Awaitable[_T], what: str) -> _T:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise HttpTimeout(f"{what} timed out after {seconds:g} s") from None


class HttptoolsTransport(TransportBase):
    """Sends webhooks over asyncio connections with httptools parsing the responses
    (:class:`~acadio_webhooks.ports.transport.AsyncTransport`).

    Options (all keyword-only, all optional) mean what they mean for
    :class:`~acadio_webhooks.adapters.transport.httpx.AsyncHttpxTransport`: at most
    ``max_connections`` connections are open at once (a new one waits for a free slot, and an
    idle connection to another endpoint is closed to make room), and one unused for
    ``keepalive_expiry`` seconds is not reused. The transport belongs to the event loop of its
    first :meth:`send`.
    """

    _ssl_context: ssl.SSLContext | None = None

    def __init__(self, **options: Unpack[TransportOptions]) -> None:
        super().__init__(**options)
        self._idle: dict[_Key, list[Connection]] = {}
        self._open = 0
        self._waiting: deque[tuple[_Key, asyncio.Future[Connection | None]]] = deque()

    @property
    def open_connections(self) -> int:
        """Connections open or being opened now, idle ones included (at most
        ``max_connections``)."""
        return self._open

    async def send(self, request: OutboundRequest) -> TransportResult:
        """Make one attempt; never raises for what the endpoint or network does."""
        started = self._start()
        try:
            endpoint = self._check_url(request.url)
        except InvalidEndpoint as exc:
            return error_result(ErrorKind.BLOCKED, exc, time.perf_counter() - started)
        head = _encoded_request(request, endpoint)
        total = self.timeouts.total
        deadline = asyncio.get_running_loop().time() + total
        with tracking(endpoint.host, tls=endpoint.scheme == "https") as progress:
            try:
                return await self._attempt(
                    endpoint=endpoint,
                    head=head,
                    body=request.body,
                    progress=progress,
                    deadline=deadline,
                    started=started,
                )
            except (TotalTimeout, asyncio.TimeoutError, TimeoutError):
                return total_timeout_result(progress, total, time.perf_counter() - started)
            except _ATTEMPT_FAILURES as exc:
                kind = classify_error(
                    exc,
                    timeouts=HttpTimeout,
                    by_type=(
                        (HttpConnectError, ErrorKind.CONNECT),
                        (HttpProtocolError, ErrorKind.PROTOCOL),
                    ),
                )
                return error_result(kind, exc, time.perf_counter() - started)

    async def _attempt(
        self,
        *,
        endpoint: ParsedEndpoint,
        head: bytes,
        body: bytes,
        progress: AttemptProgress,
        deadline: float,
        started: float,
    ) -> TransportResult:
        key = (endpoint.scheme, endpoint.host, endpoint.port)
        connection = self._pooled(key)
        if connection is None:
            connection = await _before(deadline, self._new_or_handed(endpoint, key))
        collector = self._new_body()
        answer_coming = connection.exchange(head, body, collector, progress, deadline)
        try:
            answer = await answer_coming
        finally:
            if not answer_coming.done():
                connection.abort()  # cancelled from outside: the exchange is cut short
            self._put_back(connection)
        return self._response(
            answer.status, answer.location, answer.retry_after, collector, started
        )

    # -- the pool ----------------------------------------------------------------------------
    # ``_open`` counts the connections open or being opened, at most ``max_connections``. A
    # slot freed while attempts wait is handed to the first of them rather than given back,
    # and a reusable connection to a waiter's own endpoint is handed over as it is.

    def _pooled(self, key: _Key) -> Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_usable = asyncio.get_running_loop().time() - self._keepalive_expiry
        while idle:
            connection = idle.pop()
            if connection.reusable and connection.idle_since >= oldest_usable:
                return connection
            self._discard(connection)
        return None

    def _put_back(self, connection: Connection) -> None:
        if not connection.reusable or self._closed:
            self._discard(connection)
            return
        for index, (key, waiter) in enumerate(self._waiting):
            if key == connection.key and not waiter.done():
                del self._waiting[index]
                waiter.set_result(connection)
                return
        if self._has_waiter():
            self._discard(connection)  # its slot goes to an attempt at another endpoint
        else:
            self._idle.setdefault(connection.key, []).append(connection)

    def _discard(self, connection: Connection) -> None:
        connection.close()
        self._release_slot()

    def _release_slot(self) -> None:
        while self._waiting:
            _key, waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot is the waiter's now
                return
        self._open -= 1

    def _has_waiter(self) -> bool:
        while self._waiting and self._waiting[0][1].done():
            self._waiting.popleft()  # cancelled while waiting
        return bool(self._waiting)

    async def _new_or_handed(self, endpoint: ParsedEndpoint, key: _Key) -> Connection:
        """A new connection to ``endpoint`` once a slot is free, or a kept-alive one that an
        attempt at the same endpoint hands over first."""
        if self._open < self._max_connections:
            self._open += 1
        elif not self._evict_idle():
            waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiting.append((key, waiter))
            try:
                handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    given = waiter.result()
                    if given is None:
                        self._release_slot()
                    else:
                        self._put_back(given)
                raise
            if handed is not None:
                if handed.reusable:
                    return handed
                handed.close()  # closed by its server on the way: its slot opens a new one
        try:
            return await self._connect(endpoint, key)
        except BaseException:
            self._release_slot()
            raise

    def _evict_idle(self) -> bool:
        """Close the longest unused idle connection and keep its slot; False when none."""
        for idle in self._idle.values():
            if idle:
                idle.pop(0).close()
                return True
        return False

    async def _connect(self, endpoint: ParsedEndpoint, key: _Key) -> Connection:
        addresses = await checked_addresses_async(
            self.policy, self.resolver, endpoint.host, endpoint.port, self.timeouts.total
        )
        return await self._connect_to_one(endpoint, key, addresses)

    async def _connect_to_one(
        self, endpoint: ParsedEndpoint, key: _Key, addresses: Sequence[IPAddress]
    ) -> Connection:
        failures: list[str] = []
        last: BaseException | None = None
        for address in addresses:
            try:
                return await self._open_connection(endpoint, key, address)
            except ssl.SSLError:  # noqa: PERF203 - once per address of a new connection
                raise  # the server answered: another address would not change the certificate
            except (OSError, HttpTimeout) as exc:
                failures.append(f"{address}: {exc}")
                last = exc
        tried = "; ".join(failures) or "no address"
        if isinstance(last, HttpTimeout):
            raise HttpTimeout(f"connecting to {endpoint.host} timed out ({tried})") from last
        raise HttpConnectError(f"connecting to {endpoint.host} failed ({tried})") from last

    async def _open_connection(
        self, endpoint: ParsedEndpoint, key: _Key, address: IPAddress
    ) -> Connection:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            advance(Phase.CONNECT)
            connect = loop.sock_connect(sock, (str(address), endpoint.port))
            await _within(self.timeouts.connect, connect, "connecting")
            read_timeout = self.timeouts.read
            transport, connection = await loop.create_connection(
                lambda: Connection(loop, key, read_timeout), sock=sock
            )
        except BaseException:
            sock.close()
            raise
        connected()
        if endpoint.scheme == "https":
            # TLS is started on the plain transport (not by create_connection) so that a failed
            # handshake leaves a transport of ours to close, not one asyncio dropped half-open.
            try:
                handshake = loop.start_tls(
                    transport,
                    connection,
                    self._tls_context(),
                    server_hostname=endpoint.host,
                    ssl_handshake_timeout=self.timeouts.connect,
                )
                encrypted = await _within(self.timeouts.connect, handshake, "the TLS handshake")
            except BaseException:
                transport.close()
                raise
            assert encrypted is not None  # start_tls returns None only for a closed transport
            connection.connection_made(encrypted)
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context_option is not None:
            return self._ssl_context_option
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def close(self) -> None:
        """Close the pooled connections and wait until they are shut (a TLS connection says
        goodbye first), at most :data:`CLOSE_GRACE` seconds. Idempotent; attempts in flight
        finish first, and their connections close then."""
        self._closed = True
        closing: list[Connection] = []
        for idle in self._idle.values():
            while idle:
                connection = idle.pop()
                self._discard(connection)
                closing.append(connection)
        self._idle.clear()
        if closing:
            await asyncio.wait([c.lost for c in closing], timeout=CLOSE_GRACE)
            for connection in closing:
                if not connection.lost.done():
                    connection.abort()  # the peer did not answer the goodbye in time

    async def __aenter__(self) -> HttptoolsTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

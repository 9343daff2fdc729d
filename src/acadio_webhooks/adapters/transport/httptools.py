"""The httptools transport: :class:`HttptoolsTransport` (``acadio-webhooks[httptools]``).

HTTP/1.1 on asyncio's own connections, the responses parsed by
`httptools <https://github.com/MagicStack/httptools>`_ (Node.js's llhttp parser, as uvicorn
uses it). It spends a fifth of aiohttp's CPU on an attempt (docs/performance.md, "Without
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

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters a request target keeps as they are; anything else is percent-encoded.
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._"


class HttpConnectError(OSError):
    """Opening a connection to the endpoint failed (every address was tried)."""


_ATTEMPT_FAILURES = (
    HttpConnectError,
    HttpProtocolError,
    HttpTimeout,
    InvalidEndpoint,
    ResolutionError,
    OSError,
)


@lru_cache(maxsize=4096)
def _request_line_and_host(url: str, endpoint: ParsedEndpoint) -> str:
    """``POST <target> HTTP/1.1`` and the ``Host`` header line of ``url``, as they are sent."""
    parts = urlsplit(url)
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    if endpoint.port != _DEFAULT_PORTS[endpoint.scheme]:
        host += f":{endpoint.port}"
    return f"POST {target} HTTP/1.1\r\nHost: {host}\r\n"


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
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._open = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

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
            connection = await _before(deadline, self._connect(endpoint))
        collector = self._new_body()
        answer_coming = connection.exchange(head, body, collector, progress, deadline)
        try:
            answer = await answer_coming
        finally:
            if not answer_coming.done():
                connection.abort()  # cancelled from outside: the exchange is cut short
            self._put_back(key, connection)
        return self._response(
            answer.status, answer.location, answer.retry_after, collector, started
        )

    # -- the pool ----------------------------------------------------------------------------

    def _pooled(self, key: tuple[str, str, int]) -> Connection | None:
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

    def _put_back(self, key: tuple[str, str, int], connection: Connection) -> None:
        if connection.reusable and not self._closed and not self._waiting:
            self._idle.setdefault(key, []).append(connection)
        else:
            # Not reusable, or an attempt elsewhere waits for a connection slot: free this one.
            self._discard(connection)

    def _discard(self, connection: Connection) -> None:
        connection.close()
        self._open -= 1
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _slot(self) -> None:
        """Wait until one more connection may be opened, and count it as open."""
        while self._open >= self._max_connections:
            if self._evict_idle():
                continue
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._pass_on_slot()
                raise
        self._open += 1

    def _pass_on_slot(self) -> None:
        # A waiter woken for a freed slot but cancelled before using it hands the slot on.
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _evict_idle(self) -> bool:
        for idle in self._idle.values():
            if idle:
                self._discard(idle.pop(0))  # the longest unused
                return True
        return False

    async def _connect(self, endpoint: ParsedEndpoint) -> Connection:
        await self._slot()
        try:
            addresses = await checked_addresses_async(
                self.policy, self.resolver, endpoint.host, endpoint.port, self.timeouts.total
            )
            return await self._connect_to_one(endpoint, addresses)
        except BaseException:
            self._open -= 1
            self._pass_on_slot()
            raise

    async def _connect_to_one(
        self, endpoint: ParsedEndpoint, addresses: Sequence[IPAddress]
    ) -> Connection:
        failures: list[str] = []
        last: BaseException | None = None
        for address in addresses:
            try:
                return await self._open_connection(endpoint, address)
            except ssl.SSLError:  # noqa: PERF203 - once per address of a new connection
                raise  # the server answered: another address would not change the certificate
            except (OSError, HttpTimeout) as exc:
                failures.append(f"{address}: {exc}")
                last = exc
        tried = "; ".join(failures) or "no address"
        if isinstance(last, HttpTimeout):
            raise HttpTimeout(f"connecting to {endpoint.host} timed out ({tried})") from last
        raise HttpConnectError(f"connecting to {endpoint.host} failed ({tried})") from last

    async def _open_connection(self, endpoint: ParsedEndpoint, address: IPAddress) -> Connection:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            advance(Phase.CONNECT)
            connect_timeout = self.timeouts.connect
            await _within(
                connect_timeout,
                loop.sock_connect(sock, (str(address), endpoint.port)),
                "connecting",
            )
            connected()
            tls = endpoint.scheme == "https"
            read_timeout = self.timeouts.read
            _transport, connection = await _within(
                connect_timeout,
                loop.create_connection(
                    lambda: Connection(loop, read_timeout),
                    sock=sock,
                    ssl=self._tls_context() if tls else None,
                    server_hostname=endpoint.host if tls else None,
                ),
                "the TLS handshake",
            )
        except BaseException:
            sock.close()
            raise
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context_option is not None:
            return self._ssl_context_option
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    async def close(self) -> None:
        """Close the pooled connections. Idempotent; attempts in flight finish first."""
        self._closed = True
        for idle in self._idle.values():
            while idle:
                self._discard(idle.pop())

    async def __aenter__(self) -> HttptoolsTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

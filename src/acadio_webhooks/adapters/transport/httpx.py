"""The httpx transports: :class:`HttpxTransport` (sync) and :class:`AsyncHttpxTransport`.

**Pinning.** Every new connection goes through a custom httpcore *network backend*: its
``connect_tcp(host, port)`` resolves ``host`` with the injected
:class:`~acadio_webhooks.ports.resolver.Resolver`, refuses the connection unless the
:class:`~acadio_webhooks.domain.endpoints.EndpointPolicy` accepts every address
(:class:`~acadio_webhooks.errors.InvalidEndpoint`, reported as ``ErrorKind.BLOCKED``), and
then opens the socket to one of *those* addresses. httpcore asks the backend for a TCP
stream first and upgrades it to TLS afterwards with ``server_hostname`` set to the URL's
host, so SNI and certificate verification, like the ``Host`` header, stay on the name the
customer registered, while the socket can only reach an address that was just checked: a
DNS answer that changes between the check and the connect (DNS rebinding) has nowhere to go.
Resolution happens per connection, not per request, so keep-alive connections are reused
without a lookup. We chose the backend over rewriting URLs to IP addresses because the pool
stays keyed by host name: a connection verified for one name is never reused for another
name that happens to share its address.

httpx does not expose httpcore's ``network_backend`` option, so each pool is built with
httpcore's public constructor and installed into an ``httpx.HTTPTransport`` in place of the
one it built (:func:`_install_pool`). Requests go straight to those transports, not through
an ``httpx.Client``: no default headers are added (the request carries exactly its own, plus
``Host`` and ``Content-Length``), no cookies are kept, no proxy variables are honoured (a
proxy would resolve names itself, out of the policy's reach) and no redirect is followed.

**Throughput.** httpcore's pool rescans every connection for every waiting request, so one
large pool collapses under concurrency (encode/httpx#3215). The transports spread requests
over several small pools (``connections_per_pool``, 5 by default); each endpoint fills its
home pool first and spills into the next ones, see
:class:`~acadio_webhooks.adapters.transport._common.ShardPicker`.

**Timeouts.** ``connect``, ``read`` and ``write`` go to httpcore per operation. The total is
enforced by cancellation on the async transport; on the sync one every socket operation's
timeout is clamped to what is left of the total, so neither a slow drip of headers nor of
body can hold a worker thread past it, and the name lookup runs in a thread that the attempt
waits for only as long as the total allows (one thread per name however many attempts wait
for it, and a shared cap on all of them: see :mod:`._lookups`).
"""

from __future__ import annotations

import functools
import time
import typing

import anyio
import httpcore
import httpx
import sniffio
from typing_extensions import Unpack

from acadio_webhooks.adapters.transport._base import TransportBase, TransportOptions
from acadio_webhooks.adapters.transport._common import (
    BodyCollector,
    ShardPicker,
    classify_error,
    error_result,
)
from acadio_webhooks.adapters.transport._httpcore_pinning import (
    AsyncPinningBackend,
    PinningBackend,
    attempt_deadline,
)
from acadio_webhooks.adapters.transport._progress import (
    Phase,
    total_timeout_result,
    tracking,
)
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest, TransportResult
from acadio_webhooks.errors import InvalidEndpoint

__all__ = ["HttpxTransport", "AsyncHttpxTransport", "classify_httpx_error"]


# What a failing endpoint or network can raise here; anything else is a bug and propagates.
_ATTEMPT_FAILURES = (httpx.HTTPError, httpx.InvalidURL, OSError, InvalidEndpoint)


def classify_httpx_error(exc: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of an exception raised while sending with httpx."""
    return classify_error(
        exc,
        timeouts=(httpx.TimeoutException, TimeoutError),
        by_type=(
            (httpx.ConnectError, ErrorKind.CONNECT),
            ((httpx.ProtocolError, httpx.ReadError, httpx.WriteError), ErrorKind.PROTOCOL),
            ((httpx.NetworkError, ConnectionError), ErrorKind.CONNECT),
        ),
    )


# ---------------------------------------------------------------------------------------------
# What both twins share: settings, request building, result building.


PoolT = typing.TypeVar("PoolT", httpcore.ConnectionPool, httpcore.AsyncConnectionPool)
HttpxTransportT = typing.TypeVar("HttpxTransportT", httpx.HTTPTransport, httpx.AsyncHTTPTransport)


def _install_pool(transport: HttpxTransportT, pool: PoolT) -> HttpxTransportT:
    """Replace the pool httpx built with ours (httpx has no ``network_backend`` option)."""
    if not hasattr(transport, "_pool"):  # pragma: no cover - guards a future httpx
        raise RuntimeError(
            f"this httpx version ({httpx.__version__}) does not keep its httpcore pool in "
            "HTTPTransport._pool; acadio-webhooks cannot pin connections with it"
        )
    transport._pool = pool  # type: ignore[assignment]
    return transport


# A transport sees the same few endpoint URLs over and over; httpx URLs are immutable values.
_parsed_url = functools.lru_cache(maxsize=4096)(httpx.URL)


class _HttpxTransportBase(TransportBase, typing.Generic[HttpxTransportT]):
    """Configuration and the pure steps around one attempt, shared by the two twins."""

    def __init__(
        self, *, connections_per_pool: int = 5, **options: Unpack[TransportOptions]
    ) -> None:
        super().__init__(**options)
        ssl_context = self._ssl_context_option
        self._ssl_context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._pool_options: dict[str, typing.Any] = {
            "ssl_context": self._ssl_context,
            "max_connections": connections_per_pool,
            "max_keepalive_connections": connections_per_pool,
            "keepalive_expiry": self._keepalive_expiry,
        }
        timeouts = self.timeouts
        self._timeout_extension = {
            "connect": timeouts.connect,
            "read": timeouts.read,
            "write": timeouts.write,
            "pool": timeouts.total,
        }
        pool_count = max(1, -(-self._max_connections // connections_per_pool))
        self._picker = ShardPicker(pool_count, connections_per_pool)
        self._transports: list[HttpxTransportT] = [self._new_transport() for _ in range(pool_count)]

    def _new_transport(self) -> HttpxTransportT:
        raise NotImplementedError

    def _home_pool(self, request: OutboundRequest) -> int:
        """Check the URL against the policy; the endpoint's home pool for the picker."""
        endpoint = self._check_url(request.url)
        return hash((endpoint.host, endpoint.port))

    def _build_request(self, request: OutboundRequest) -> httpx.Request:
        """Exactly the request to send (after :meth:`_home_pool` checked its URL)."""
        return httpx.Request(
            "POST",
            _parsed_url(request.url),
            headers=request.headers,
            content=request.body,
            extensions={"timeout": self._timeout_extension},
        )

    def _result(
        self, response: httpx.Response, body: BodyCollector, started: float
    ) -> TransportResult:
        headers = response.headers
        return self._response(
            response.status_code,
            headers.get("location"),
            headers.get("retry-after"),
            body,
            started,
        )

    def _failure(self, exc: BaseException, started: float) -> TransportResult:
        return error_result(classify_httpx_error(exc), exc, time.perf_counter() - started)


class HttpxTransport(_HttpxTransportBase[httpx.HTTPTransport]):
    """Sends webhooks with httpx from synchronous code (threaded workers, sync hosts).

    Implements :class:`acadio_webhooks.ports.transport.Transport`; thread-safe. Options
    (all keyword-only, all optional):

    * ``policy`` (:class:`EndpointPolicy`, public ``https://`` only by default) and
      ``resolver`` (the system's by default): every new connection is resolved, checked and
      pinned to a checked address (see the module documentation).
    * ``timeouts``: :class:`TransportTimeouts` (connect 5 s, read 10 s, write 10 s, total 20 s).
    * ``max_response_bytes`` (64 KiB) are read at most, the first ``excerpt_bytes`` (1 KiB)
      kept in the result.
    * ``max_connections`` (100) open at most, in pools of ``connections_per_pool`` (5);
      idle connections are closed after ``keepalive_expiry`` seconds.
    * ``ssl_context`` for custom certificate authorities; ``clock`` dates ``Retry-After``.
    """

    def _new_transport(self) -> httpx.HTTPTransport:
        backend = PinningBackend(self.policy, self.resolver)
        pool = httpcore.ConnectionPool(network_backend=backend, **self._pool_options)
        return _install_pool(httpx.HTTPTransport(verify=self._ssl_context, trust_env=False), pool)

    def send(self, request: OutboundRequest) -> TransportResult:
        """Make one attempt; never raises for what the endpoint or network does."""
        started = self._start()
        try:
            home = self._home_pool(request)
        except InvalidEndpoint as exc:
            return self._failure(exc, started)
        token = attempt_deadline.set(time.monotonic() + self.timeouts.total)
        shard = self._picker.acquire(home)
        try:
            response = self._transports[shard].handle_request(self._build_request(request))
            body = self._new_body()
            try:
                for chunk in response.iter_raw():
                    if not body.feed(chunk):
                        break
            finally:
                response.close()
            return self._result(response, body, started)
        except _ATTEMPT_FAILURES as exc:
            return self._failure(exc, started)
        finally:
            self._picker.release(shard)
            attempt_deadline.reset(token)

    def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        if not self._closed:
            self._closed = True
            for transport in self._transports:
                transport.close()

    def __enter__(self) -> HttpxTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncHttpxTransport(_HttpxTransportBase[httpx.AsyncHTTPTransport]):
    """The async twin of :class:`HttpxTransport`: same options, same contract, awaited.

    Implements :class:`acadio_webhooks.ports.transport.AsyncTransport` on asyncio or trio.
    Resolution runs in a worker thread, so a slow DNS server never blocks the event loop,
    and the whole attempt is cancelled when ``timeouts.total`` runs out.
    """

    def _new_transport(self) -> httpx.AsyncHTTPTransport:
        backend = AsyncPinningBackend(self.policy, self.resolver, self.timeouts.total)
        pool = httpcore.AsyncConnectionPool(network_backend=backend, **self._pool_options)
        return _install_pool(
            httpx.AsyncHTTPTransport(verify=self._ssl_context, trust_env=False), pool
        )

    async def send(self, request: OutboundRequest) -> TransportResult:
        """Make one attempt; never raises for what the endpoint or network does."""
        started = self._start()
        try:
            endpoint = self._check_url(request.url)
        except InvalidEndpoint as exc:
            return self._failure(exc, started)
        shard = self._picker.acquire(hash((endpoint.host, endpoint.port)))
        # anyio and httpcore ask sniffio which event loop runs about a dozen times per request;
        # answering once through sniffio's own context variable makes every later ask cheap.
        library = sniffio.current_async_library_cvar.set(sniffio.current_async_library())
        try:
            with tracking(endpoint.host, tls=endpoint.scheme == "https") as progress:
                with anyio.move_on_after(self.timeouts.total):
                    transport = self._transports[shard]
                    response = await transport.handle_async_request(self._build_request(request))
                    progress.advance(Phase.READING_BODY)
                    body = self._new_body()
                    try:
                        async for chunk in response.aiter_raw():
                            if not body.feed(chunk):
                                break
                    finally:
                        await response.aclose()
                    return self._result(response, body, started)
                # Only reached when the total ran out: the block above returns or raises.
                duration = time.perf_counter() - started
                return total_timeout_result(progress, self.timeouts.total, duration)
        except _ATTEMPT_FAILURES as exc:
            return self._failure(exc, started)
        finally:
            sniffio.current_async_library_cvar.reset(library)
            self._picker.release(shard)

    async def close(self) -> None:
        """Close every pooled connection. Idempotent."""
        if not self._closed:
            self._closed = True
            for transport in self._transports:
                await transport.aclose()

    async def __aenter__(self) -> AsyncHttpxTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

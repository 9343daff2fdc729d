"""The aiohttp transport: :class:`AiohttpTransport` (``pip install acadio-webhooks[aiohttp]``).

For hosts already built on aiohttp. Same contract as the httpx transports (see
:class:`acadio_webhooks.ports.transport.AsyncTransport`), asyncio only.

**Pinning.** aiohttp resolves every host name through its connector's resolver and then
connects to the addresses the resolver returned, with TLS SNI and certificate verification
on the URL's host name. The connector here gets a resolver (:class:`_PinningResolver`) that
asks the injected :class:`~acadio_webhooks.ports.resolver.Resolver`, refuses the host unless
the :class:`~acadio_webhooks.domain.endpoints.EndpointPolicy` accepts every address, and
returns only those checked addresses; aiohttp's own DNS cache is off so the check runs for
every new connection. IP-literal URLs never reach a resolver in aiohttp, so the policy check of
the URL itself, made before every request, is what refuses a forbidden literal.

Requests carry exactly their own headers (plus ``Host`` and ``Content-Length``): aiohttp's
automatic ``User-Agent``, ``Accept``, ``Accept-Encoding`` and ``Content-Type`` are left out,
responses are not decompressed (the cap counts bytes on the wire), cookies are discarded,
proxy variables are ignored and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import aiohttp.payload
from aiohttp.abc import AbstractResolver, AbstractStreamWriter

from acadio_webhooks.adapters.transport._base import TransportBase
from acadio_webhooks.adapters.transport._common import (
    checked_addresses_async,
    classify_error,
    error_result,
)
from acadio_webhooks.adapters.transport._progress import (
    Phase,
    advance,
    connected,
    total_timeout_result,
    tracking,
)
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest, TransportResult
from acadio_webhooks.errors import InvalidEndpoint, ResolutionError
from acadio_webhooks.ports.resolver import Resolver

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult

__all__ = ["AiohttpTransport", "classify_aiohttp_error"]

# What a failing endpoint or network can raise here; anything else is a bug and propagates.
_ATTEMPT_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError, OSError, InvalidEndpoint)
# aiohttp adds these when a request lacks them. Skipping costs a header copy per request,
# so it is asked for only when needed: the delivery core always sends both.
_AUTO_HEADERS = ("user-agent", "content-type")


def _missing_auto_headers(headers: Mapping[str, str]) -> list[str] | None:
    """Which of aiohttp's automatic headers ``headers`` lacks (None: it has both)."""
    if "User-Agent" in headers and "Content-Type" in headers:  # the core's spelling
        return None
    present = {name.lower() for name in headers}
    return [name for name in _AUTO_HEADERS if name not in present] or None


class _ExactHeadersRequest(aiohttp.ClientRequest):
    """A request without aiohttp's ``Accept`` and ``Accept-Encoding`` defaults."""

    DEFAULT_HEADERS = {}  # noqa: RUF012 - overrides aiohttp's class attribute of that name


# -- telling the attempt's progress where it is (see _progress) ----------------------------------


class _TrackedBody(aiohttp.payload.BytesPayload):
    """The request body, as aiohttp would wrap it, marking when its writing starts and ends
    (aiohttp writes it in a task of its own, which copies the attempt's context)."""

    async def write(self, writer: AbstractStreamWriter) -> None:
        advance(Phase.SENDING)
        await super().write(writer)
        advance(Phase.WAITING_FOR_RESPONSE)

    async def write_with_length(  # aiohttp 3.12+ calls this one
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        advance(Phase.SENDING)
        await super().write_with_length(writer, content_length)
        advance(Phase.WAITING_FOR_RESPONSE)


def _connected(protocol_factory: Any) -> Any:
    # asyncio builds a connection's protocol once its TCP connection is up, before TLS.
    connected()
    return protocol_factory()


def _connecting(address: Any) -> socket.socket:
    # aiohttp's socket_factory: the same socket aiohappyeyeballs would make, about to connect.
    advance(Phase.CONNECT)
    family, type_, proto, _, _ = address
    return socket.socket(family=family, type=type_, proto=proto)


# aiohttp 3.12 added the socket_factory hook; without it, only a name lookup's end marks the
# start of connecting (an IP-literal URL's connect counts as waiting for a connection).
_HAS_SOCKET_FACTORY = "socket_factory" in inspect.signature(aiohttp.TCPConnector).parameters


class _TrackingConnector(aiohttp.TCPConnector):
    """aiohttp's connector, telling the attempt's progress when it connects and when the TCP
    connection is up (so a handshake that never ends is told from a connect that never does).

    The second needs aiohttp's private protocol factory, ``_factory``: if an aiohttp without
    it comes, attempts work the same and a stalled handshake is reported as connecting.
    """

    def __init__(self, **options: Any) -> None:
        if _HAS_SOCKET_FACTORY:
            options["socket_factory"] = _connecting
        super().__init__(**options)
        protocol_factory = getattr(self, "_factory", None)
        if callable(protocol_factory):
            self._factory = functools.partial(_connected, protocol_factory)


def _is_total_timeout(exc: BaseException) -> bool:
    # aiohttp's connect and read timeouts are ServerTimeoutErrors; its total is a bare one.
    timeouts = (asyncio.TimeoutError, TimeoutError)
    return isinstance(exc, timeouts) and not isinstance(exc, aiohttp.ServerTimeoutError)


def classify_aiohttp_error(exc: BaseException) -> ErrorKind:
    """The :class:`ErrorKind` of an exception raised while sending with aiohttp."""
    return classify_error(
        exc,
        timeouts=asyncio.TimeoutError,  # aiohttp's own timeouts subclass it
        by_type=(
            (aiohttp.ClientSSLError, ErrorKind.TLS),
            (aiohttp.ClientConnectorError, ErrorKind.CONNECT),
            (
                (
                    aiohttp.ServerConnectionError,
                    aiohttp.ClientPayloadError,
                    aiohttp.ClientResponseError,
                    aiohttp.ClientOSError,
                ),
                ErrorKind.PROTOCOL,
            ),
        ),
    )


class _PinningResolver(AbstractResolver):
    """aiohttp's resolver hook: only addresses the policy accepts ever reach the connector."""

    def __init__(self, policy: EndpointPolicy, resolver: Resolver, lookup_timeout: float) -> None:
        self._policy = policy
        self._resolver = resolver
        self._lookup_timeout = lookup_timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await checked_addresses_async(
            self._policy, self._resolver, host, port, self._lookup_timeout
        )
        results: list[ResolveResult] = []
        for address in addresses:
            address_family = socket.AF_INET if address.version == 4 else socket.AF_INET6
            if family not in (socket.AF_UNSPEC, address_family):
                continue
            results.append(
                {
                    "hostname": host,
                    "host": str(address),
                    "port": port,
                    "family": address_family,
                    "proto": 0,
                    "flags": socket.AI_NUMERICHOST,
                }
            )
        if not results:
            raise ResolutionError(f"host {host!r} has no address of the family {family!r}")
        return results

    async def close(self) -> None:
        """Nothing to release: the injected resolver owns no connection."""


class AiohttpTransport(TransportBase):
    """Sends webhooks with aiohttp (:class:`~acadio_webhooks.ports.transport.AsyncTransport`).

    Options (all keyword-only, all optional) mean what they mean for
    :class:`~acadio_webhooks.adapters.transport.httpx.AsyncHttpxTransport`; aiohttp has no
    per-write timeout, so ``timeouts.write`` is covered by ``timeouts.total``. The session
    is created on the first :meth:`send`, inside the running event loop, and belongs to it.
    """

    _session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        connector = _TrackingConnector(
            resolver=_PinningResolver(self.policy, self.resolver, self.timeouts.total),
            use_dns_cache=False,  # resolve (and check) for every new connection
            limit=self._max_connections,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_expiry,
            ssl=self._ssl_context_option if self._ssl_context_option is not None else True,
        )
        timeouts = self.timeouts
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read
            ),
            request_class=_ExactHeadersRequest,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    async def send(self, request: OutboundRequest) -> TransportResult:
        """Make one attempt; never raises for what the endpoint or network does."""
        started = self._start()
        if self._session is None:
            self._session = self._open_session()
        try:
            endpoint = self._check_url(request.url)
        except InvalidEndpoint as exc:
            return error_result(ErrorKind.BLOCKED, exc, time.perf_counter() - started)
        with tracking(endpoint.host, tls=endpoint.scheme == "https") as progress:
            try:
                return await self._post(request, started)
            except _ATTEMPT_FAILURES as exc:
                duration = time.perf_counter() - started
                if _is_total_timeout(exc):
                    return total_timeout_result(progress, self.timeouts.total, duration)
                return error_result(classify_aiohttp_error(exc), exc, duration)

    async def _post(self, request: OutboundRequest, started: float) -> TransportResult:
        assert self._session is not None
        skipped = _missing_auto_headers(request.headers)
        async with self._session.post(
            request.url,
            data=_TrackedBody(request.body),
            headers=request.headers,
            skip_auto_headers=skipped,
            allow_redirects=False,
        ) as response:
            advance(Phase.READING_BODY)
            body = self._new_body()
            read = response.content.readany
            while chunk := await read():
                if not body.feed(chunk):
                    break
            headers: Any = response.headers
            return self._response(
                response.status, headers.get("Location"), headers.get("Retry-After"), body, started
            )

    async def close(self) -> None:
        """Close the session and its pooled connections. Idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> AiohttpTransport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

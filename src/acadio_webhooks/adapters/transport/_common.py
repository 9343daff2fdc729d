"""What every transport shares: settings, the pinning check, body capping and result building.

The adapters only run I/O; each decision (is this address allowed, how much of the body to
keep, what ``Retry-After`` means, which :class:`ErrorKind` an exception is) is made here once,
so the httpx and aiohttp transports and their sync and async twins cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import math
import re
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache

import anyio.to_thread

from acadio_webhooks.adapters.transport._lookups import SHARED_LOOKUPS
from acadio_webhooks.adapters.transport._progress import Phase, advance
from acadio_webhooks.domain.endpoints import EndpointPolicy, ParsedEndpoint
from acadio_webhooks.domain.messages import ErrorKind, TransportResult
from acadio_webhooks.errors import InvalidEndpoint, ResolutionError
from acadio_webhooks.ports.clock import Clock
from acadio_webhooks.ports.resolver import IPAddress, Resolver

__all__ = [
    "TransportTimeouts",
    "DEFAULT_TIMEOUTS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_EXCERPT_BYTES",
    "parse_retry_after",
    "BodyCollector",
    "response_result",
    "error_result",
    "pinning_error_kind",
    "caused_by_tls",
    "classify_error",
    "checked_addresses",
    "checked_addresses_async",
    "checked_addresses_within",
    "url_checker",
    "ShardPicker",
    "validate_limits",
    "scrub_urls",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
DEFAULT_EXCERPT_BYTES = 1024
_MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class TransportTimeouts:
    """Bounds of one attempt, in seconds.

    ``connect`` bounds opening a TCP connection to one address, and the TLS handshake; ``read``
    and ``write`` bound each wait for the socket; ``total`` bounds the whole attempt, from
    waiting for a pooled connection to the last byte read, so an endpoint that drips its
    response one byte at a time is still cut off. ``total`` also bounds name resolution: a
    lookup still hanging when it runs out is abandoned in its thread (a blocking lookup cannot
    be interrupted) and the attempt fails as a timeout. Abandoned lookups are bounded: the
    attempts at one name share a lookup, and a process runs at most 64 at once.
    """

    connect: float = 5.0
    read: float = 10.0
    write: float = 10.0
    total: float = 20.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "total"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"TransportTimeouts.{name} must be a positive number of seconds")


DEFAULT_TIMEOUTS = TransportTimeouts()


def validate_limits(max_response_bytes: int, excerpt_bytes: int) -> None:
    """Refuse body limits that make no sense (programming errors, raised at construction)."""
    if max_response_bytes < 0 or excerpt_bytes < 0:
        raise ValueError("max_response_bytes and excerpt_bytes must not be negative")
    if excerpt_bytes > max_response_bytes:
        raise ValueError("excerpt_bytes cannot exceed max_response_bytes")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, or None if absent or malformed.

    Accepts delta-seconds (``"120"``) and an HTTP date (``"Wed, 21 Oct 2015 07:28:00 GMT"``,
    counted from ``now``; a date in the past means 0). Bounding the wait is the retry
    policy's job, not the parser's.

    >>> parse_retry_after("120", datetime(2024, 1, 1, tzinfo=timezone.utc))
    120.0
    >>> new_year = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> parse_retry_after("Mon, 01 Jan 2024 00:01:30 GMT", new_year)
    90.0
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and text.isascii():
        return float(int(text))
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; obsolete forms may omit the zone
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - now).total_seconds())


class BodyCollector:
    """Counts response bytes up to a cap and keeps the first few as an excerpt."""

    __slots__ = ("_excerpt", "_excerpt_bytes", "_max_bytes", "received", "truncated")

    def __init__(self, max_bytes: int, excerpt_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._excerpt_bytes = excerpt_bytes
        self._excerpt = bytearray()
        self.received = 0
        self.truncated = False

    def feed(self, chunk: bytes) -> bool:
        """Take one chunk; False once the cap is reached and reading must stop."""
        room = self._excerpt_bytes - len(self._excerpt)
        if room > 0:
            self._excerpt += chunk[:room]
        self.received += len(chunk)
        if self.received > self._max_bytes:
            self.truncated = True
            return False
        return True

    @property
    def excerpt(self) -> bytes:
        """The first ``excerpt_bytes`` of the body."""
        return bytes(self._excerpt)


def response_result(
    *,
    status_code: int,
    location: str | None,
    retry_after: str | None,
    body: BodyCollector,
    duration: float,
    clock: Clock,
) -> TransportResult:
    """The result of an attempt that got an HTTP response."""
    error = None
    if 300 <= status_code < 400:
        error = f"redirect not followed (Location: {_shorten(location or '(none)')})"
    return TransportResult(
        status_code=status_code,
        duration=duration,
        body_excerpt=body.excerpt,
        error=error,
        retry_after=None if retry_after is None else parse_retry_after(retry_after, clock.now()),
    )


def error_result(kind: ErrorKind, exc: BaseException, duration: float) -> TransportResult:
    """The result of an attempt that got no HTTP response.

    When the client wrapped a refusal or a resolution failure of the endpoint check, the
    message is the check's own, which names the host and the address.
    """
    described = _pinning_error(exc) or exc
    return TransportResult(
        status_code=None, duration=duration, error_kind=kind, error=_describe(described)
    )


def _cause_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it, and so on: clients wrap the errors they meet."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        yield current
        seen.add(id(current))
        current = current.__cause__ or current.__context__


def _pinning_error(exc: BaseException) -> InvalidEndpoint | ResolutionError | None:
    for error in _cause_chain(exc):
        if isinstance(error, (InvalidEndpoint, ResolutionError)):
            return error
    return None


def pinning_error_kind(exc: BaseException) -> ErrorKind | None:
    """BLOCKED or CONNECT when the endpoint check refused or failed to resolve, else None."""
    error = _pinning_error(exc)
    if error is None:
        return None
    return ErrorKind.BLOCKED if isinstance(error, InvalidEndpoint) else ErrorKind.CONNECT


def caused_by_tls(exc: BaseException) -> bool:
    """Whether an ``ssl.SSLError`` is anywhere in ``exc``'s cause chain."""
    return any(isinstance(error, ssl.SSLError) for error in _cause_chain(exc))


ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


def classify_error(
    exc: BaseException,
    *,
    timeouts: ExceptionTypes,
    by_type: Sequence[tuple[ExceptionTypes, ErrorKind]],
) -> ErrorKind:
    """The :class:`ErrorKind` of a failed attempt, in one order for every client.

    A refusal of the endpoint check (BLOCKED) or a failed resolution (CONNECT) wins, wherever
    the client wrapped it; then the client's timeouts; then TLS, recognised by an
    ``ssl.SSLError`` in the cause chain since clients report it as a connect or read error;
    then ``by_type``, first match wins; anything else is OTHER.
    """
    kind = pinning_error_kind(exc)
    if kind is not None:
        return kind
    if isinstance(exc, timeouts):
        return ErrorKind.TIMEOUT
    if caused_by_tls(exc):
        return ErrorKind.TLS
    for types, type_kind in by_type:
        if isinstance(exc, types):
            return type_kind
    return ErrorKind.OTHER


def _describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    name = type(exc).__name__
    return _shorten(scrub_urls(text if text.startswith(name) else f"{name}: {text}"))


# A URL inside an error message: scheme, optional userinfo, host and port, path/query/fragment.
_URL_IN_TEXT = re.compile(
    r"(https?://)(?:[^\s'\"<>/?#@]*@)?([^\s'\"<>/?#]*)(?:[/?#][^\s'\"<>]*)?", re.I
)


def scrub_urls(text: str) -> str:
    """``text`` with every URL cut to scheme, host and port.

    Clients quote the request URL in their errors (aiohttp does), and an endpoint's path
    (Slack- and Zapier-style URLs), query string or userinfo may hold the receiver's token;
    error texts are stored with attempts and logged, so the token must not travel with them.

    >>> scrub_urls("400, url='https://user:pw@hooks.example.com:8443/in/T0K3N?token=abc#x'")
    "400, url='https://hooks.example.com:8443'"
    """
    return _URL_IN_TEXT.sub(r"\1\2", text)


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 3] + "..."


def checked_addresses(
    policy: EndpointPolicy, resolver: Resolver, host: str, port: int
) -> Sequence[IPAddress]:
    """Resolve ``host`` and return its addresses if the policy allows every one of them.

    Raises :class:`InvalidEndpoint` (a forbidden or missing address) or
    :class:`ResolutionError`. The caller connects only to the returned addresses.
    """
    host = host.strip("[]")
    addresses = list(resolver.resolve(host, port))
    policy.check_addresses(host, addresses)
    return addresses


# How much later than the attempt's total an abandoned lookup thread stops waiting.
LOOKUP_BACKSTOP_GRACE = 5.0


async def checked_addresses_async(
    policy: EndpointPolicy, resolver: Resolver, host: str, port: int, lookup_timeout: float
) -> Sequence[IPAddress]:
    """:func:`checked_addresses` without blocking the event loop.

    IP literals are checked inline; names go through :func:`checked_addresses_within`, in a
    worker thread that a cancellation abandons rather than waits for (a slow DNS server cannot
    hold the attempt past its total). The caller's cancel scope of ``lookup_timeout`` seconds
    (the attempt's total) is what ends a hanging lookup; the thread's own wait is only a
    backstop that frees the thread, set :data:`LOOKUP_BACKSTOP_GRACE` seconds later so that on
    a busy machine it cannot answer first and turn "the total ran out during the name lookup"
    into a different error. The lookup itself runs in the shared, bounded pool, so attempts
    abandoning a hanging lookup pile up no threads. The attempt's progress (:mod:`._progress`)
    is in the name lookup meanwhile, then connecting.
    """
    literal = _ip_literal(host)
    if literal is None:
        advance(Phase.NAME_LOOKUP)
        addresses = await anyio.to_thread.run_sync(
            checked_addresses_within,
            policy,
            resolver,
            host,
            port,
            lookup_timeout + LOOKUP_BACKSTOP_GRACE,
            abandon_on_cancel=True,
        )
    else:
        policy.check_addresses(str(literal), [literal])
        addresses = [literal]
    advance(Phase.CONNECT)  # the caller connects to one of them next
    return addresses


def checked_addresses_within(
    policy: EndpointPolicy, resolver: Resolver, host: str, port: int, timeout: float
) -> Sequence[IPAddress]:
    """:func:`checked_addresses` for blocking callers, bounded by ``timeout`` seconds.

    IP literals are checked inline; names are resolved through the process's shared
    :class:`~acadio_webhooks.adapters.transport._lookups.LookupPool`: in a daemon thread that
    is abandoned rather than waited for when the time is up (:class:`TimeoutError`), so a
    resolver that hangs cannot hold a sync attempt past its total timeout, as it cannot an
    async one, and cannot pile up threads either (:class:`ResolutionError` past the cap).
    """
    literal = _ip_literal(host)
    if literal is not None:
        policy.check_addresses(str(literal), [literal])
        return [literal]
    host = host.strip("[]")
    addresses = SHARED_LOOKUPS.resolve(resolver, host, port, timeout)
    policy.check_addresses(host, addresses)
    return addresses


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def url_checker(policy: EndpointPolicy, cache_size: int = 4096) -> Callable[[str], ParsedEndpoint]:
    """``policy.check_url`` with a cache: a transport sees the same few endpoints over and over.

    Refusals are not cached (they raise), so they cost a parse each time; they are rare.
    """
    return lru_cache(maxsize=cache_size)(policy.check_url)


class ShardPicker:
    """Chooses which of several small connection pools takes the next request.

    httpcore's pool rescans every connection for every queued request, so one big pool
    slows down sharply with concurrency (encode/httpx#3215); several pools of a few
    connections each stay fast. Each endpoint has a home pool (from a hash of its host and
    port): its requests fill the home pool first and spill over into the next pools, so
    sequential traffic keeps reusing the same warm connections, and different endpoints
    mostly keep to different pools instead of evicting each other's idle connections. When
    every pool is full, the least busy one queues the request.
    """

    def __init__(self, shards: int, slots_per_shard: int) -> None:
        if shards < 1 or slots_per_shard < 1:
            raise ValueError("a transport needs at least one pool of at least one connection")
        self._in_flight = [0] * shards
        self._slots = slots_per_shard
        self._lock = threading.Lock()  # uncontended on an event loop; needed by threaded use

    def acquire(self, home: int = 0) -> int:
        """Reserve a slot, searching from pool ``home`` (modulo the pool count); its index."""
        with self._lock:
            in_flight = self._in_flight
            count = len(in_flight)
            start = home % count
            chosen = start
            for offset in range(count):
                index = (start + offset) % count
                busy = in_flight[index]
                if busy < self._slots:
                    chosen = index
                    break
                if busy < in_flight[chosen]:
                    chosen = index
            in_flight[chosen] += 1
            return chosen

    def release(self, index: int) -> None:
        """Give back a slot reserved by :meth:`acquire`."""
        with self._lock:
            self._in_flight[index] -= 1

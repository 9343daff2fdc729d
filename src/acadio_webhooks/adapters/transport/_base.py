""":class:`TransportBase`: the settings every transport takes and the steps around an attempt
that do not depend on the HTTP client (the httpx twins and the aiohttp transport build on it).
"""

from __future__ import annotations

import ssl
import time

from typing_extensions import TypedDict

from acadio_webhooks.adapters.resolver import SystemResolver
from acadio_webhooks.adapters.transport._common import (
    DEFAULT_EXCERPT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUTS,
    BodyCollector,
    TransportTimeouts,
    response_result,
    url_checker,
    validate_limits,
)
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import TransportResult
from acadio_webhooks.ports.clock import Clock, SystemClock
from acadio_webhooks.ports.resolver import Resolver

__all__ = ["TransportBase", "TransportOptions"]


class TransportOptions(TypedDict, total=False):
    """The options every transport takes (keyword-only, all optional), for ``**options``."""

    policy: EndpointPolicy | None
    resolver: Resolver | None
    timeouts: TransportTimeouts
    max_response_bytes: int
    excerpt_bytes: int
    max_connections: int
    keepalive_expiry: float
    ssl_context: ssl.SSLContext | None
    clock: Clock | None


class TransportBase:
    """The endpoint policy and resolver, timeouts, body limits, connection limits and clock
    of a transport, checked once; and the client-independent parts of an attempt.

    Each client's adapter reads the connection options (``max_connections``,
    ``keepalive_expiry``, ``ssl_context``) when it builds its pool.
    """

    def __init__(
        self,
        *,
        policy: EndpointPolicy | None = None,
        resolver: Resolver | None = None,
        timeouts: TransportTimeouts = DEFAULT_TIMEOUTS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        excerpt_bytes: int = DEFAULT_EXCERPT_BYTES,
        max_connections: int = 100,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Clock | None = None,
    ) -> None:
        validate_limits(max_response_bytes, excerpt_bytes)
        self.policy = policy if policy is not None else EndpointPolicy()
        self.resolver = resolver if resolver is not None else SystemResolver()
        self.timeouts = timeouts
        self._max_response_bytes = max_response_bytes
        self._excerpt_bytes = excerpt_bytes
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context_option = ssl_context
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._check_url = url_checker(self.policy)
        self._closed = False

    def _start(self) -> float:
        """The attempt's start time; a closed transport refuses to send (a bug in the caller)."""
        if self._closed:
            raise RuntimeError(f"{type(self).__name__}.send() called after close()")
        return time.perf_counter()

    def _new_body(self) -> BodyCollector:
        return BodyCollector(self._max_response_bytes, self._excerpt_bytes)

    def _response(
        self,
        status_code: int,
        location: str | None,
        retry_after: str | None,
        body: BodyCollector,
        started: float,
    ) -> TransportResult:
        return response_result(
            status_code=status_code,
            location=location,
            retry_after=retry_after,
            body=body,
            duration=time.perf_counter() - started,
            clock=self._clock,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(policy={self.policy!r}, resolver={self.resolver!r})"

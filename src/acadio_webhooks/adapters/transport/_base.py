""":class:`TransportBase`: the settings every transport takes and the steps around an attempt
that do not depend on the HTTP client (the httpx twins and the aiohttp transport build on it).
"""

from __future__ import annotations

import time

from acadio_webhooks.adapters.resolver import SystemResolver
from acadio_webhooks.adapters.transport._common import (
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

__all__ = ["TransportBase"]


class TransportBase:
    """The endpoint policy and resolver, timeouts, body limits and clock of a transport,
    checked once; and the client-independent parts of an attempt."""

    def __init__(
        self,
        *,
        policy: EndpointPolicy | None,
        resolver: Resolver | None,
        timeouts: TransportTimeouts,
        max_response_bytes: int,
        excerpt_bytes: int,
        clock: Clock | None,
    ) -> None:
        validate_limits(max_response_bytes, excerpt_bytes)
        self.policy = policy if policy is not None else EndpointPolicy()
        self.resolver = resolver if resolver is not None else SystemResolver()
        self.timeouts = timeouts
        self._max_response_bytes = max_response_bytes
        self._excerpt_bytes = excerpt_bytes
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

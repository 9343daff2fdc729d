"""The resolver port: host name -> IP addresses, injectable so tests never depend on DNS."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["IPAddress", "Resolver"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@runtime_checkable
class Resolver(Protocol):
    """Resolves a host name to the addresses a connection would use.

    Called by the integration service when an endpoint is registered and by transports
    before every connection (the result is checked against the endpoint policy and the
    connection is pinned to a checked address). Raise
    :class:`acadio_webhooks.errors.ResolutionError` when the name does not resolve. May block:
    async callers run it in a worker thread.
    """

    def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """All addresses for ``host`` (an IP literal resolves to itself)."""
        ...

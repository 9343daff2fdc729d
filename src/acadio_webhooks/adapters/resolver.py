"""Resolvers: the system's DNS for production, a fixed table for tests.

Both implement :class:`acadio_webhooks.ports.resolver.Resolver`. Transports call
``resolve()`` before every new connection and pin the connection to an address the endpoint
policy accepted, so tests give them a :class:`StaticResolver` and never touch real DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence

from acadio_webhooks.errors import ResolutionError
from acadio_webhooks.ports.resolver import IPAddress

__all__ = ["SystemResolver", "StaticResolver"]


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _normalise_name(host: str) -> str:
    return host.lower().removesuffix(".")


class SystemResolver:
    """Resolves with ``socket.getaddrinfo`` (the host's resolver: DNS, ``/etc/hosts``...).

    Blocks; async transports call it in a worker thread.
    """

    def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every distinct TCP address for ``host``, in the order the system prefers."""
        literal = _ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            infos = socket.getaddrinfo(host, port, family=socket.AF_UNSPEC, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise ResolutionError(f"host {host!r} did not resolve: {exc}") from exc
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ResolutionError(f"host {host!r} has no IPv4 or IPv6 address")
        return addresses

    def __repr__(self) -> str:
        return "SystemResolver()"


class StaticResolver:
    """Answers from a fixed table, for tests: ``{"hooks.example.com": ["203.0.113.7"]}``.

    Names are matched case-insensitively and without a trailing dot; an IP literal resolves
    to itself; any other name raises :class:`~acadio_webhooks.errors.ResolutionError`.
    :meth:`set` changes an answer, for example to play a DNS-rebinding attack.
    """

    def __init__(self, mapping: Mapping[str, Iterable[str]] | None = None) -> None:
        self._answers: dict[str, tuple[IPAddress, ...]] = {}
        for host, addresses in (mapping or {}).items():
            self.set(host, addresses)

    def set(self, host: str, addresses: Iterable[str]) -> None:
        """Make ``host`` resolve to ``addresses`` from now on (raises ValueError if malformed)."""
        self._answers[_normalise_name(host)] = tuple(ipaddress.ip_address(a) for a in addresses)

    def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """The table's answer for ``host`` (``port`` is ignored)."""
        literal = _ip_literal(host)
        if literal is not None:
            return [literal]
        answer = self._answers.get(_normalise_name(host))
        if answer is None:
            raise ResolutionError(f"host {host!r} is not in the StaticResolver table")
        if not answer:
            raise ResolutionError(f"host {host!r} has no address in the StaticResolver table")
        return list(answer)

    def __repr__(self) -> str:
        return f"StaticResolver({ {h: [str(a) for a in v] for h, v in self._answers.items()} })"

"""Fixtures of the reliability suites: a loopback-only network guard and the figures report.

Every test here runs under :func:`loopback_only`: a connection to anything outside
127.0.0.0/8, or a host-name lookup, is refused on the spot and fails the test at teardown,
even when the code under test swallowed the refusal as a failed attempt. SSRF tests can
therefore state "no socket was opened" and mean it.

Set ``ACADIO_WEBHOOKS_RELIABILITY_REPORT=path.json`` to have the suites write their figures
(cases tried, faults injected, deliveries checked, lost) there; ``docs/reliability.md``
quotes such a report.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.hostile import HostileServer
from tests.reliability.worlds import Figures

REPORT_ENV = "ACADIO_WEBHOOKS_RELIABILITY_REPORT"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


_FIGURES = Figures()


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    """A :class:`HostileServer` for one test, closed even when the test fails."""
    server = HostileServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    yield _FIGURES
    target = os.environ.get(REPORT_ENV)
    if target:
        _FIGURES.dump(Path(target))


def _loopback(host: object) -> bool:
    try:
        address = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False
    return isinstance(address, ipaddress.IPv4Address) and address.is_loopback


class NetworkGuard:
    """What :func:`loopback_only` refused during one test."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def check_connect(self, sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            self.refused.append(f"connect to {address!r}")
            raise ConnectionRefusedError(f"test guard: no connections outside 127/8 ({address!r})")

    def check_lookup(self, host: object) -> None:
        if host is not None and not _loopback(host):
            self.refused.append(f"lookup of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"test guard: no name lookups ({host!r})")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        guard.check_connect(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        guard.check_connect(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check_lookup(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    assert guard.refused == [], f"traffic outside 127.0.0.0/8 was attempted: {guard.refused}"

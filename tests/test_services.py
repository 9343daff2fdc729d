"""The rule for missing services: skip with the reason, or fail when services are required."""

from __future__ import annotations

import socket

import pytest

from tests.services import REQUIRE_SERVICES_ENV, require_tcp_service, tcp_problem


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_an_unreachable_service_skips_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)
    port = _closed_port()
    with pytest.raises(
        pytest.skip.Exception, match=f"PostgreSQL not reachable at 127.0.0.1:{port}"
    ):
        require_tcp_service("PostgreSQL", "127.0.0.1", port)


def test_an_unreachable_required_service_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="not reachable"):
        require_tcp_service("PostgreSQL", "127.0.0.1", _closed_port())


def test_a_listening_service_is_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert tcp_problem("127.0.0.1", server.getsockname()[1]) is None

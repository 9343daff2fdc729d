"""Fixtures for the transport tests: loopback servers, certificates, every transport kind."""

from __future__ import annotations

from collections.abc import Iterator
from shutil import which
from typing import Any

import pytest
from transport_support import (
    TRANSPORT_KINDS,
    Certificates,
    Deliver,
    LoopbackServer,
    make_certificates,
    send_all,
)

from acadio_webhooks.domain.messages import OutboundRequest, TransportResult


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    loopback = LoopbackServer()
    loopback.start()
    yield loopback
    loopback.stop()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificates: Certificates) -> Iterator[LoopbackServer]:
    loopback = LoopbackServer(ssl_context=certificates.server_context())
    loopback.start()
    yield loopback
    loopback.stop()


@pytest.fixture(params=TRANSPORT_KINDS)
def transport_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    return kind


@pytest.fixture
def deliver(transport_kind: str) -> Deliver:
    """``deliver(*requests, **transport_options)``: send with a fresh transport of the kind."""

    def run(*requests: OutboundRequest, **options: Any) -> list[TransportResult]:
        return send_all(transport_kind, list(requests), **options)

    return run

"""When the total timeout ends an async attempt, its error says where it was and with whom.

One endpoint stalls in each phase of an attempt: a name lookup that never answers, a listener
whose accept queue is full (the SYN is dropped), a plain TCP server that never answers a TLS
ClientHello, a listener that never reads a large body, a server that never answers, and one
that drips its body. Every per-operation timeout is far above the total, so only the total can
end these attempts; the recorded error names the phase and the host, and nothing of the URL
past its host (the query may hold the receiver's token).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from test_lookup_threads import BlockedResolver
from transport_support import LoopbackServer, send_all

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest, TransportResult
from acadio_webhooks.ports.resolver import Resolver
from tests.reliability.worlds import async_transport, eventually, open_fds

INSECURE = EndpointPolicy(allow_insecure=True)
ONLY_THE_TOTAL = TransportTimeouts(connect=30, read=30, write=30, total=0.5)
HOST = "hooks.example.com"
TOKEN = "receiver-token-123"
LOOPBACK = StaticResolver({HOST: ["127.0.0.1"]})


@pytest.fixture(params=["httpx-async", "aiohttp", "httptools"])
def async_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    if kind in ("aiohttp", "httptools"):
        pytest.importorskip(kind)
    return kind


@pytest.fixture
def full_accept_queue() -> Iterator[int]:
    """A port whose listener's accept queue is full: the kernel drops new SYNs."""
    with socket.socket() as listener, socket.socket() as queued:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        queued.connect(("127.0.0.1", port))  # takes the queue's one place; never accepted
        yield port


def attempt(kind: str, url: str, *, resolver: Resolver = LOOPBACK) -> str:
    """The error of one attempt at ``url``, checked to be a total timeout's."""
    request = OutboundRequest(url=url, headers={"Content-Type": "application/json"}, body=b"{}")
    [result] = send_all(
        kind, [request], policy=INSECURE, resolver=resolver, timeouts=ONLY_THE_TOTAL
    )
    return checked(result)


def checked(result: TransportResult) -> str:
    assert (result.status_code, result.error_kind) == (None, ErrorKind.TIMEOUT), result.error
    error = result.error or ""
    assert error.startswith("TimeoutError: the attempt's total timeout (0.5 s) ran out ")
    assert HOST in error
    assert TOKEN not in error
    return error


def url(port: int, behaviour: str = "hook", scheme: str = "http") -> str:
    return f"{scheme}://{HOST}:{port}/{behaviour}/in?token={TOKEN}"


def test_a_name_lookup_that_never_answers(async_kind: str) -> None:
    resolver = BlockedResolver()
    try:
        error = attempt(async_kind, url(443), resolver=resolver)
    finally:
        resolver.released.set()

    assert f"during the name lookup of {HOST}" in error


def test_a_connect_that_is_never_answered(async_kind: str, full_accept_queue: int) -> None:
    error = attempt(async_kind, url(full_accept_queue))

    assert f"while connecting to {HOST}" in error


def test_a_tls_handshake_that_is_never_answered(async_kind: str, server: LoopbackServer) -> None:
    # A plain HTTP server reads the ClientHello as the start of a request head, and waits.
    error = attempt(async_kind, url(server.port, scheme="https"))

    assert f"during the TLS handshake with {HOST}" in error


# aiohttp warns of bodies over 1 MiB given as bytes; webhook bodies are far smaller.
@pytest.mark.filterwarnings("ignore:Sending a large body directly:ResourceWarning")
@pytest.mark.anyio
async def test_a_request_body_that_is_never_read(async_kind: str) -> None:
    # Connections to this listener complete in the kernel and are never read from, and the
    # body is far more than the socket buffers on both sides hold: the writes block.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    body = b"x" * (64 * 1024 * 1024)
    request = OutboundRequest(url=url(listener.getsockname()[1]), headers={}, body=body)
    transport = async_transport(
        async_kind, policy=INSECURE, resolver=LOOPBACK, timeouts=ONLY_THE_TOTAL
    )
    fds = open_fds()
    try:
        result = await transport.send(request)
    finally:
        # aiohttp closes a connection gracefully, so the unsent rest of the body keeps its
        # socket open until the peer goes away: here the listener resets what it queued.
        listener.close()
        await eventually(lambda: open_fds() < fds, within=10)
        await transport.close()

    assert f"while sending the request to {HOST}" in checked(result)


@pytest.mark.parametrize("behaviour", ["hang", "drip-headers"])
def test_a_response_that_never_comes(
    async_kind: str, server: LoopbackServer, behaviour: str
) -> None:
    error = attempt(async_kind, url(server.port, behaviour))

    assert f"while waiting for the response from {HOST}" in error


def test_a_body_that_drips_in(async_kind: str, server: LoopbackServer) -> None:
    error = attempt(async_kind, url(server.port, "drip-body"))

    assert f"while reading the response body from {HOST}" in error

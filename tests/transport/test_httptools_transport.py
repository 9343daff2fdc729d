"""What :class:`HttptoolsTransport` does beyond the shared contract: it manages its own
connections, so when one may be reused, how many are open and what ends them is its own.

Each test runs a scripted HTTP server on 127.0.0.1 in the test's event loop: every request it
reads is answered with the next of the test's raw responses, byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

pytest.importorskip("httptools")

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.adapters.transport.httptools import (
    MAX_RESPONSE_HEAD,
    HttptoolsTransport,
)
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest

pytestmark = pytest.mark.anyio

INSECURE = EndpointPolicy(allow_insecure=True)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # the transport is asyncio's only


@dataclass
class Script:
    """The raw responses a scripted server gives, one per request, and what it saw."""

    responses: list[bytes | Callable[[asyncio.StreamWriter], object]]
    targets: list[str] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@asynccontextmanager
async def scripted(
    *responses: bytes | Callable[[asyncio.StreamWriter], object],
) -> AsyncIterator[Script]:
    script = Script(list(responses))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                script.targets.append(lines[0].split(" ")[1])
                length = next(
                    int(line.split(":", 1)[1])
                    for line in lines
                    if line.lower().startswith("content-length:")
                )
                await reader.readexactly(length)
                response = script.responses.pop(0)
                if callable(response):
                    result = response(writer)
                    if asyncio.iscoroutine(result):
                        await result
                else:
                    writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    handlers: set[asyncio.Task[None]] = set()

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await serve(reader, writer)
        except asyncio.CancelledError:
            pass  # the test is over

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    script.port = server.sockets[0].getsockname()[1]
    try:
        yield script
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def post(url: str, headers: dict[str, str] | None = None) -> OutboundRequest:
    return OutboundRequest(
        url=url, headers=headers or {"Content-Type": "application/json"}, body=b"{}"
    )


async def test_an_informational_response_before_the_real_one_is_skipped() -> None:
    async with scripted(b"HTTP/1.1 100 Continue\r\n\r\n" + OK) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            result = await transport.send(post(server.url()))

    assert (result.status_code, result.body_excerpt, result.error_kind) == (200, b"ok", None)


async def test_a_body_that_ends_with_the_connection_is_read_and_the_connection_not_reused() -> None:
    close_delimited = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"

    def answer_and_close(writer: asyncio.StreamWriter) -> None:
        writer.write(close_delimited)
        writer.close()

    async with scripted(answer_and_close, OK) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            first = await transport.send(post(server.url()))
            second = await transport.send(post(server.url()))

    assert (first.status_code, first.body_excerpt) == (200, b"all of it")
    assert second.status_code == 200
    assert server.connections == 2


async def test_connection_close_is_honoured() -> None:
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    async with scripted(closing, OK) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            results = [await transport.send(post(server.url())) for _ in range(2)]

    assert [r.status_code for r in results] == [200, 200]
    assert server.connections == 2


STRAY = b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"


async def _answer_then_stray(writer: asyncio.StreamWriter) -> None:
    writer.write(OK)
    await writer.drain()
    await asyncio.sleep(0.02)
    writer.write(STRAY)


@pytest.mark.parametrize("first_answer", [OK + STRAY, _answer_then_stray], ids=["with", "after"])
async def test_a_response_nobody_asked_for_retires_the_connection(
    first_answer: bytes | Callable[[asyncio.StreamWriter], object],
) -> None:
    # The server answers the first request twice, the stray 500 in the same packet or a moment
    # later: reusing the connection would hand it to the next request as that one's answer.
    async with scripted(first_answer, OK) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            first = await transport.send(post(server.url()))
            await asyncio.sleep(0.05)  # the stray response arrives while the connection idles
            second = await transport.send(post(server.url()))

    assert (first.status_code, second.status_code) == (200, 200)
    assert server.connections == 2


async def test_an_endless_response_head_is_a_protocol_error_at_the_limit() -> None:
    async def endless_header(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(100):
            writer.write(b"a" * 4096)
            await writer.drain()

    async with scripted(endless_header) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            result = await transport.send(post(server.url()))

    assert (result.status_code, result.error_kind) == (None, ErrorKind.PROTOCOL)
    assert f"the response head exceeds {MAX_RESPONSE_HEAD} bytes" in (result.error or "")


Respond = Callable[[asyncio.StreamWriter], object]


def noting_open(made: list[HttptoolsTransport], seen: list[int], *, delay: float = 0.0) -> Respond:
    """A 200 that first notes how many connections the transport (``made[0]``) has open."""

    async def respond(writer: asyncio.StreamWriter) -> None:
        seen.append(made[0].open_connections)
        await asyncio.sleep(delay)
        writer.write(OK)

    return respond


async def test_the_connection_limit_holds_and_an_idle_connection_makes_room() -> None:
    resolver = StaticResolver({"a.example.com": ["127.0.0.1"], "b.example.com": ["127.0.0.1"]})
    made: list[HttptoolsTransport] = []
    seen: list[int] = []
    async with scripted(*[noting_open(made, seen)] * 3) as server:
        async with HttptoolsTransport(
            policy=INSECURE, resolver=resolver, max_connections=1
        ) as transport:
            made.append(transport)
            results = [
                await transport.send(post(server.url(host=host)))
                for host in ("a.example.com", "b.example.com", "a.example.com")
            ]

    assert [r.status_code for r in results] == [200, 200, 200]
    assert (server.connections, seen) == (3, [1, 1, 1])


async def test_attempts_beyond_the_limit_wait_and_are_handed_the_kept_alive_connection() -> None:
    made: list[HttptoolsTransport] = []
    seen: list[int] = []
    async with scripted(*[noting_open(made, seen, delay=0.05)] * 3) as server:
        async with HttptoolsTransport(policy=INSECURE, max_connections=1) as transport:
            made.append(transport)
            results = await asyncio.gather(*(transport.send(post(server.url())) for _ in range(3)))

    assert [r.status_code for r in results] == [200, 200, 200]
    assert (server.connections, seen) == (1, [1, 1, 1])


async def test_an_attempt_waiting_at_another_endpoint_gets_the_freed_slot() -> None:
    resolver = StaticResolver({"a.example.com": ["127.0.0.1"], "b.example.com": ["127.0.0.1"]})
    made: list[HttptoolsTransport] = []
    seen: list[int] = []
    hosts = ("a.example.com", "b.example.com")
    async with scripted(*[noting_open(made, seen, delay=0.05)] * 2) as server:
        async with HttptoolsTransport(
            policy=INSECURE, resolver=resolver, max_connections=1
        ) as transport:
            made.append(transport)
            sends = (transport.send(post(server.url(host=host))) for host in hosts)
            results = await asyncio.gather(*sends)

    assert [r.status_code for r in results] == [200, 200]
    assert (server.connections, seen) == (2, [1, 1])


async def test_a_connection_idle_past_the_keepalive_expiry_is_not_reused() -> None:
    async with scripted(OK, OK, OK) as server:
        async with HttptoolsTransport(policy=INSECURE, keepalive_expiry=0.05) as transport:
            await transport.send(post(server.url()))
            await transport.send(post(server.url()))  # at once: the same connection
            await asyncio.sleep(0.1)
            await transport.send(post(server.url()))

    assert server.connections == 2


async def test_a_cancelled_attempt_closes_its_connection_and_frees_its_slot() -> None:
    async def never(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async with scripted(never, OK) as server:
        async with HttptoolsTransport(policy=INSECURE, max_connections=1) as transport:
            attempt = asyncio.ensure_future(transport.send(post(server.url())))
            await asyncio.sleep(0.05)
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
            result = await transport.send(post(server.url()))

    assert result.status_code == 200
    assert server.connections == 2


async def test_a_quiet_endpoint_ends_the_attempt_at_the_read_timeout() -> None:
    async def silent(writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    timeouts = TransportTimeouts(connect=5, read=0.1, write=5, total=10)
    async with scripted(silent) as server:
        async with HttptoolsTransport(policy=INSECURE, timeouts=timeouts) as transport:
            result = await transport.send(post(server.url()))

    assert (result.status_code, result.error_kind) == (None, ErrorKind.TIMEOUT)
    assert "no data came for 0.1 s (read timeout)" in (result.error or "")
    assert result.duration < 5


async def test_the_request_target_keeps_its_query_and_percent_encodes_the_rest() -> None:
    async with scripted(OK) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            await transport.send(post(server.url("/in/é?token=a%20b&x=1")))

    assert server.targets == ["/in/%C3%A9?token=a%20b&x=1"]


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async with scripted(OK) as server:
        async with HttptoolsTransport(policy=INSECURE) as transport:
            with pytest.raises(ValueError, match="line break"):
                await transport.send(post(server.url(), {"X-Evil": "a\r\nX-Injected: 1"}))

    assert server.connections == 0

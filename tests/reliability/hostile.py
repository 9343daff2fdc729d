"""Hostile and broken webhook endpoints on 127.0.0.1, one listening port per behaviour.

``HostileServer`` runs one asyncio loop in a thread and opens a listener for every behaviour
asked for. A behaviour is a coroutine that gets the accepted connection and does something a
real receiver might do on a bad day: answer slowly, never answer, stream forever, send a
megabyte of headers, reset the connection half way, speak plain HTTP to a TLS client...
Every listener counts its connections and requests, so tests can assert what an endpoint
really saw (for instance that a redirect target was never contacted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = [
    "Behaviour",
    "Listener",
    "HostileServer",
    "BEHAVIOURS",
    "DRIP_INTERVAL",
    "answer",
    "gated",
    "fails_first",
]

DRIP_INTERVAL = 0.05
"""Seconds between the bytes of a slow drip: far below any read timeout, so only the
attempt's total timeout can end it."""

Behaviour = Callable[["Listener", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Listener:
    """One port playing one behaviour; counters are only written by the server's loop."""

    name: str
    behaviour: Behaviour | None
    port: int = 0
    connections: int = 0
    requests: int = 0
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    open_connections: int = 0
    request_seen: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook", *, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def event_ids(self) -> list[str]:
        """The ``webhook-id`` of every request received, in order (repeats included)."""
        return [headers.get("webhook-id", "") for headers in self.headers]


class HostileServer:
    """Listeners on 127.0.0.1 for the named behaviours (see :data:`BEHAVIOURS`)."""

    def __init__(self) -> None:
        self.listeners: dict[str, Listener] = {}
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._silent_sockets: list[socket.socket] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def add(self, name: str, behaviour: Behaviour | None = None) -> Listener:
        """Open a listener for ``behaviour`` (default: ``BEHAVIOURS[name]``).

        The behaviour ``no-accept`` is special: a socket that listens but is never accepted
        from, so the kernel completes the handshake and then nobody ever reads.
        """
        if name == "no-accept":
            listener = Listener(name, None)
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            listener.port = sock.getsockname()[1]
            self._silent_sockets.append(sock)
        else:
            chosen = behaviour or BEHAVIOURS[name]
            listener = Listener(name, chosen)
            future = asyncio.run_coroutine_threadsafe(self._open(listener), self._loop)
            future.result(10)
        self.listeners[name] = listener
        return listener

    async def _open(self, listener: Listener) -> None:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            assert listener.behaviour is not None
            self._tasks.add(task)
            listener.connections += 1
            listener.open_connections += 1
            try:
                await listener.behaviour(listener, reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                pass
            finally:
                listener.open_connections -= 1
                self._tasks.discard(task)
                writer.transport.abort()

        server = await asyncio.start_server(accept, "127.0.0.1", 0, limit=1 << 20)
        listener.port = server.sockets[0].getsockname()[1]
        self._servers.append(server)

    def refuse(self, name: str) -> None:
        """Close ``name``'s listener, leaving a port that certainly refuses connections."""
        port = self.listeners[name].port

        async def close() -> None:
            for server in self._servers:
                if server.sockets and server.sockets[0].getsockname()[1] == port:
                    server.close()
                    await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    def close(self) -> None:
        """Stop every listener and the loop."""

        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        for sock in self._silent_sockets:
            sock.close()


# -- helpers -----------------------------------------------------------------------------------


async def read_request(listener: Listener, reader: asyncio.StreamReader) -> bool:
    """Read one HTTP/1.1 request (head and Content-Length body); False at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    lines = head.decode("latin-1").split("\r\n")[1:-2]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    listener.requests += 1
    listener.headers.append(headers)
    listener.bodies.append(body)
    listener.request_seen.set()
    return True


def respond(writer: asyncio.StreamWriter, status: int, body: bytes = b"", *headers: str) -> None:
    head = [f"HTTP/1.1 {status} Whatever", *headers, f"Content-Length: {len(body)}"]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def drip(writer: asyncio.StreamWriter, data: bytes) -> None:
    for index in range(len(data)):
        writer.write(data[index : index + 1])
        await writer.drain()
        await asyncio.sleep(DRIP_INTERVAL)


# -- behaviours --------------------------------------------------------------------------------


def answer(status: int, body: bytes = b"", *headers: str) -> Behaviour:
    """A well-formed answer to every request on the connection."""

    async def behaviour(
        listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(listener, reader):
            respond(writer, status, body, *headers)
            await writer.drain()

    return behaviour


async def slow_ok(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while await read_request(listener, reader):
        await asyncio.sleep(0.2)
        respond(writer, 200, b"took my time")
        await writer.drain()


async def hang(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    await reader.read()  # until the client gives up


async def silent(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Accept and say nothing, not even a TLS handshake."""
    listener.request_seen.set()
    await reader.read()


async def drip_headers(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\n")
    await drip(writer, b"X-Drip: " + b"d" * 10_000)


async def drip_body(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
    await drip(writer, b"d" * 100_000)


ENDLESS_CHUNK = b"e" * 65536


async def endless_body(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (len(ENDLESS_CHUNK), ENDLESS_CHUNK)
    while True:
        writer.write(chunk)
        await writer.drain()


async def huge_body(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """A 2xx announcing 64 MiB of body, sent as fast as the client reads."""
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1024 * len(ENDLESS_CHUNK)))
    for _ in range(1024):
        writer.write(ENDLESS_CHUNK)
        await writer.drain()


async def huge_headers(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One megabyte of response headers: a single giant line, then many ordinary ones."""
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Giant: " + b"g" * (1 << 20) + b"\r\n")
    await writer.drain()
    line = b"X-Filler: " + b"f" * 100 + b"\r\n"
    while True:  # never ends the header block
        writer.write(line * 1000)
        await writer.drain()


async def endless_headers(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Short, valid header lines, forever and fast: no single line is too long."""
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\n")
    counter = 0
    while True:
        block = b"".join(b"X-H%d: v\r\n" % (counter + i) for i in range(1000))
        counter += 1000
        writer.write(block)
        await writer.drain()


async def reset_before_status(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    reset(writer)


async def reset_mid_body(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    await writer.drain()
    await asyncio.sleep(0.05)
    reset(writer)


async def close_mid_body(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
    await writer.drain()
    writer.close()


async def not_http(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(listener, reader)
    writer.write(b"SSH-2.0-OpenSSH_9.6\r\nthis is not HTTP\r\n\r\n")
    await writer.drain()


async def plain_to_tls(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer a TLS ClientHello with plain HTTP (a receiver whose TLS is misconfigured)."""
    await reader.read(1)
    listener.request_seen.set()
    respond(writer, 400, b"plain HTTP here")
    await writer.drain()
    await reader.read()


async def random_to_tls(
    listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer a TLS ClientHello with a TLS-looking record header and random bytes."""
    await reader.read(1)
    listener.request_seen.set()
    writer.write(b"\x16\x03\x03\x00\x40" + os.urandom(64))
    await writer.drain()
    await reader.read()


def gated(gate: threading.Event, status: int = 200) -> Behaviour:
    """Hold every request until ``gate`` is set (to keep attempts in flight), then answer."""

    async def behaviour(
        listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(listener, reader):
            while not gate.is_set():  # noqa: ASYNC110 - a threading.Event set by the test
                await asyncio.sleep(0.01)
            respond(writer, status, b"released")
            await writer.drain()

    return behaviour


def fails_first(status: int = 503) -> Behaviour:
    """Answer ``status`` to the first request of each event (by ``webhook-id``), 200 after."""
    seen: set[str] = set()

    async def behaviour(
        listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(listener, reader):
            event_id = listener.headers[-1].get("webhook-id", "")
            respond(writer, 200 if event_id in seen else status, b"")
            seen.add(event_id)
            await writer.drain()

    return behaviour


# 256 bytes of every value, NULs and invalid UTF-8 included, under a misleading content type.
GARBAGE = bytes(range(256)) + b"\xff\xfe\xfd{not json"


BEHAVIOURS: dict[str, Behaviour] = {
    "ok": answer(200, b'{"ok": true}', "Content-Type: application/json"),
    "slow-ok": slow_ok,
    "status-500": answer(500, b"internal error"),
    "garbage-2xx": answer(200, GARBAGE, "Content-Type: application/json"),
    "empty-2xx": answer(204),
    "huge-2xx-body": huge_body,
    "endless-body": endless_body,
    "huge-headers": huge_headers,
    "endless-headers": endless_headers,
    "drip-headers": drip_headers,
    "drip-body": drip_body,
    "hang": hang,
    "reset-before-status": reset_before_status,
    "reset-mid-body": reset_mid_body,
    "close-mid-body": close_mid_body,
    "not-http": not_http,
    "retry-after-forever": answer(429, b"later", "Retry-After: 99999999"),
    "redirect-public": answer(302, b"", "Location: https://93.184.216.34/hook"),
    "redirect-metadata": answer(
        307, b"", "Location: http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    ),
    "tls-plain-answer": plain_to_tls,
    "tls-random-answer": random_to_tls,
    "tls-silent": silent,
}

"""Real loopback HTTP(S) servers and a uniform way to drive every transport against them.

The server runs its own asyncio loop in a thread on 127.0.0.1 (random port), so the sync
transport and the async ones talk to the same thing. Each path is one endpoint behaviour;
every request and connection is recorded so tests can assert what the endpoint really saw.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio

from acadio_webhooks.adapters.transport.httpx import HttpxTransport
from acadio_webhooks.domain.messages import OutboundRequest, TransportResult
from tests.reliability.worlds import async_transport

TRANSPORT_KINDS = ["httpx", "httpx-async", "aiohttp", "httptools"]
DRIP_INTERVAL = 0.05


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class LoopbackServer:
    """An HTTP/1.1 server on 127.0.0.1 whose paths play endpoint behaviours (see ``_route``)."""

    ssl_context: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    server_names: list[str | None] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    # -- lifecycle (runs the loop in a thread) ----------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback server did not start")

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        if self.ssl_context is not None:
            self.ssl_context.sni_callback = self._record_sni
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0, ssl=self.ssl_context)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    def _record_sni(self, _sock: Any, server_name: str | None, _ctx: Any) -> None:
        self.server_names.append(server_name)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- HTTP --------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.transport.abort()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
        method, path, _version = request_line.split(" ")
        headers = [tuple(line.split(": ", 1)) for line in header_lines]
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), 0)
        body = await reader.readexactly(length)
        self.received.append(Received(method, path, headers, body))  # type: ignore[arg-type]
        return await self._route(path, reader, writer)

    async def _route(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False closes the connection."""
        parts = path.split("/")[1:]
        name, arg = parts[0], unquote(parts[1]) if len(parts) > 1 else ""
        if name == "status":
            body = b"" if arg == "204" else f"status {arg}".encode()
            await _respond(writer, int(arg), body)
        elif name == "redirect":
            await _respond(writer, 302, b"", [("Location", "https://elsewhere.example/hook")])
        elif name == "retry-after":
            await _respond(writer, 429, b"slow down", [("Retry-After", arg)])
        elif name == "big":
            await _respond(writer, 200, bytes(i % 251 for i in range(int(arg))))
        elif name == "endless":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n%s\r\n" % (16384, b"e" * 16384)
            while True:
                writer.write(chunk)
                await writer.drain()
        elif name == "hang":
            await reader.read()  # until the client gives up
        elif name == "drip-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            await _drip(writer, b"d" * 1_000_000)
        elif name == "drip-headers":
            writer.write(b"HTTP/1.1 200 OK\r\n")
            await _drip(writer, b"X-Drip: " + b"d" * 10_000)
        elif name == "close":
            return False
        elif name == "garbage":
            writer.write(b"this is not HTTP at all\r\n\r\n")
            await writer.drain()
            return False
        else:
            await _respond(writer, 404, b"no such behaviour")
        return True


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    lines = [f"HTTP/1.1 {status} Whatever"]
    lines += [f"{k}: {v}" for k, v in headers or []]
    if status != 204:
        lines.append(f"Content-Length: {len(body)}")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


async def _drip(writer: asyncio.StreamWriter, data: bytes) -> None:
    for index in range(len(data)):
        writer.write(data[index : index + 1])
        await writer.drain()
        await asyncio.sleep(DRIP_INTERVAL)


# -- TLS: a throwaway CA and a certificate for hooks.example.com, made with the openssl CLI --


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def make_certificates(folder: Path) -> Certificates:
    """A CA and a certificate it signed for ``hooks.example.com``, made by the openssl CLI."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=acadio-webhooks test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr",
            "-subj", "/CN=hooks.example.com")  # fmt: skip
    (folder / "leaf.ext").write_text(
        "subjectAltName=DNS:hooks.example.com\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2",
            "-extfile", "leaf.ext")  # fmt: skip
    return Certificates(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key")


# -- driving any transport from a plain (sync) test ---------------------------------------


Deliver = Callable[..., list[TransportResult]]


def send_all(kind: str, requests: list[OutboundRequest], **options: Any) -> list[TransportResult]:
    """Build a transport of ``kind`` with ``options``, send ``requests`` in order, close it."""
    if kind == "httpx":
        with HttpxTransport(**options) as transport:
            return [transport.send(r) for r in requests]

    async def run() -> list[TransportResult]:
        transport: Any = async_transport(kind, **options)
        async with transport:
            return [await transport.send(r) for r in requests]

    return anyio.run(run)


def send_after_closing_twice(kind: str, request: OutboundRequest, **options: Any) -> None:
    """Send once, close twice, send again: the last send must raise."""
    if kind == "httpx":
        transport = HttpxTransport(**options)
        transport.send(request)
        transport.close()
        transport.close()
        transport.send(request)
        return

    async def run() -> None:
        transport: Any = async_transport(kind, **options)
        await transport.send(request)
        await transport.close()
        await transport.close()
        await transport.send(request)

    anyio.run(run)

"""Transport throughput on loopback: our adapters against bare httpx and aiohttp set-ups.

Run by hand (not part of the test suite)::

    .venv/bin/python benchmarks/bench_transport.py           # about 2 minutes
    .venv/bin/python benchmarks/bench_transport.py --quick   # about 20 seconds
    .venv/bin/python benchmarks/bench_transport.py --smoke   # CI's check that it runs

A sink server runs in a subprocess (so client and sink do not share one event loop or one
core) and answers every POST with ``200`` and an empty body. Each client sends 1 KiB POSTs at
concurrency 1, 10 and 50 (that many tasks sending back to back). Rounds are interleaved (every
set-up at every concurrency once per round, order rotated) and the median rate is reported,
so a noisy neighbour slows every set-up alike. A raw ``asyncio.Protocol`` client (one
connection per sender, one request built once, no HTTP library) shows the floor under every
client. Targets printed at the end:

* ``AsyncHttpxTransport`` at c=50 >= 0.9 x itself at c=1 (one big httpx pool collapses:
  encode/httpx#3215);
* ``AsyncHttpxTransport`` >= 0.8 x the best bare httpx set-up at the same concurrency;
* ``AiohttpTransport`` >= 0.8 x a bare aiohttp loop at the same concurrency.

``HttptoolsTransport`` (when the ``httptools`` extra is installed) is printed beside them, with
its ratio to bare aiohttp; no target names it.

The script exits 1 when a run misses one, except with ``--smoke``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import cast
from urllib.parse import urlsplit

import httpx
from _targets import Target, add_smoke_flag, exit_code, machine_note
from _targets import report as report_targets

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport.default import TransportName, default_async_transport
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import OutboundRequest

CONCURRENCIES = (1, 10, 50)
BODY = b'{"data": "' + b"x" * 1010 + b'"}'  # 1 KiB
HEADERS = {
    "Content-Type": "application/json",
    "User-Agent": "acadio-webhooks/bench",
    "webhook-id": "evt_bench",
    "webhook-timestamp": "1700000000",
    "webhook-signature": "v1,c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmE=",
}
SHARD_SIZE = 5

Send = Callable[[], Awaitable[None]]


# -- the sink ------------------------------------------------------------------------------


class _Sink(asyncio.Protocol):
    """Answers each complete HTTP/1.1 request (Content-Length bodies) with an empty 200."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                line_end = head.find(b"\r\n", marker)
                length = int(head[marker + 15 : line_end if line_end >= 0 else None])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


@contextmanager
def started_sink() -> Iterator[str]:
    """The sink in a subprocess of its own (so it does not share the client's event loop or
    core); yields its base URL (``http://127.0.0.1:PORT``), stops it afterwards."""
    sink = subprocess.Popen([sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        yield f"http://127.0.0.1:{int(sink.stdout.readline())}"
    finally:
        sink.terminate()
        sink.wait()
        if sink.stdout is not None:
            sink.stdout.close()


def run_sink() -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Sink, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(serve())


# -- the set-ups -----------------------------------------------------------------------------


async def bare_httpx_single(stack: AsyncExitStack, url: str, concurrency: int) -> list[Send]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    client = await stack.enter_async_context(httpx.AsyncClient(limits=limits))

    async def send() -> None:
        response = await client.post(url, content=BODY, headers=HEADERS)
        assert response.status_code == 200

    return [send] * concurrency


async def bare_httpx_sharded(stack: AsyncExitStack, url: str, concurrency: int) -> list[Send]:
    """The best bare set-up we know: one small client per 5 workers (AutoBackend via sniffio)."""
    limits = httpx.Limits(max_connections=SHARD_SIZE, max_keepalive_connections=SHARD_SIZE)
    clients = [
        await stack.enter_async_context(httpx.AsyncClient(limits=limits))
        for _ in range(-(-concurrency // SHARD_SIZE))
    ]

    def sender(client: httpx.AsyncClient) -> Send:
        async def send() -> None:
            response = await client.post(url, content=BODY, headers=HEADERS)
            assert response.status_code == 200

        return send

    return [sender(clients[i // SHARD_SIZE]) for i in range(concurrency)]


async def bare_aiohttp(stack: AsyncExitStack, url: str, concurrency: int) -> list[Send]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=100)
    session = await stack.enter_async_context(aiohttp.ClientSession(connector=connector))

    async def send() -> None:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            await response.read()
            assert response.status == 200

    return [send] * concurrency


async def bare_aiohttp_timeouts(stack: AsyncExitStack, url: str, concurrency: int) -> list[Send]:
    """A bare loop with the timeouts our transports apply (a read timeout costs timers)."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=20, sock_connect=5, sock_read=10)
    connector = aiohttp.TCPConnector(limit=100)
    session = await stack.enter_async_context(
        aiohttp.ClientSession(connector=connector, timeout=timeout)
    )

    async def send() -> None:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            await response.read()
            assert response.status == 200

    return [send] * concurrency


def _ours(name: TransportName) -> Callable[[AsyncExitStack, str, int], Awaitable[list[Send]]]:
    """The set-up of our async transport ``name`` (the worker's ``--transport`` names)."""

    async def setup(stack: AsyncExitStack, url: str, concurrency: int) -> list[Send]:
        transport = default_async_transport(
            policy=EndpointPolicy(allow_insecure=True), resolver=StaticResolver(), name=name
        )
        stack.push_async_callback(transport.close)
        request = OutboundRequest(url=url, headers=HEADERS, body=BODY)

        async def send() -> None:
            result = await transport.send(request)
            assert result.status_code == 200, result

        return [send] * concurrency

    return setup


class _RawClient(asyncio.Protocol):
    """The floor under every HTTP client: a socket, one request built once, and the end of
    each response found by its blank line (the sink's answers have no body)."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.buffer = bytearray()
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end >= 0 and self.waiter is not None:
            if not self.buffer.startswith(b"HTTP/1.1 200 "):
                self.waiter.set_exception(AssertionError(bytes(self.buffer[:40])))
            else:
                self.waiter.set_result(None)
            del self.buffer[: end + 4]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"the sink closed the connection: {exc}"))

    async def send(self) -> None:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(self.request)
        await self.waiter


async def raw_protocol(stack: AsyncExitStack, url: str, concurrency: int) -> list[Send]:
    """One connection per sender, an ``asyncio.Protocol`` and nothing else (issue #13's
    yardstick for what one process can send at all)."""
    parsed = urlsplit(url)
    head = f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items())
    head += f"Content-Length: {len(BODY)}\r\n\r\n"
    request = head.encode("ascii") + BODY
    loop = asyncio.get_running_loop()
    clients = []
    for _ in range(concurrency):
        transport, client = await loop.create_connection(
            lambda: _RawClient(request), parsed.hostname, parsed.port
        )
        stack.callback(transport.close)
        clients.append(client)
    return [client.send for client in clients]


SETUPS: dict[str, Callable[[AsyncExitStack, str, int], Awaitable[list[Send]]]] = {
    "bare httpx, one client": bare_httpx_single,
    "bare httpx, sharded": bare_httpx_sharded,
    "AsyncHttpxTransport": _ours("httpx"),
    "bare aiohttp": bare_aiohttp,
    "bare aiohttp, timeouts": bare_aiohttp_timeouts,
    "AiohttpTransport": _ours("aiohttp"),
    "raw asyncio Protocol": raw_protocol,
}
if importlib.util.find_spec("httptools") is not None:  # the httptools extra
    SETUPS["HttptoolsTransport"] = _ours("httptools")


async def measure(setup: str, url: str, concurrency: int, requests: int) -> tuple[float, float]:
    """(requests per second, client CPU microseconds per request) after a warm-up.

    The CPU figure is this process's own time, so it hardly moves when a neighbour takes
    the other core; the rate is what the targets are stated in.
    """
    async with AsyncExitStack() as stack:
        senders = await SETUPS[setup](stack, url, concurrency)
        per_worker = max(1, requests // concurrency)

        async def worker(send: Send, count: int) -> None:
            for _ in range(count):
                await send()

        await asyncio.gather(*(worker(send, 3) for send in senders))  # open connections
        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(send, per_worker) for send in senders))
        sent = per_worker * concurrency
        cpu = (time.process_time() - cpu_started) * 1e6 / sent
        return sent / (time.perf_counter() - started), cpu


Medians = dict[tuple[str, int], tuple[float, float]]


async def benchmark(url: str, rounds: int, requests: int) -> Medians:
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {}
    names = list(SETUPS)
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for concurrency in CONCURRENCIES:
            for setup in order:
                sample = await measure(setup, url, concurrency, requests)
                samples.setdefault((setup, concurrency), []).append(sample)
        print(f"  round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
    return {
        key: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        for key, values in samples.items()
    }


def report(results: Medians) -> bool:
    medians = {key: rate for key, (rate, _cpu) in results.items()}
    columns = "".join(f"{'c=' + str(c):>10}" for c in CONCURRENCIES)
    print(f"\nrequests per second (median)\n{'set-up':<26}{columns}")
    for setup in SETUPS:
        print(f"{setup:<26}" + "".join(f"{medians[setup, c]:>10.0f}" for c in CONCURRENCIES))
    print(f"\nclient CPU microseconds per request (median)\n{'set-up':<26}{columns}")
    for setup in SETUPS:
        print(f"{setup:<26}" + "".join(f"{results[setup, c][1]:>10.0f}" for c in CONCURRENCIES))
    cpu = {key: cpu_us for key, (_rate, cpu_us) in results.items()}
    print("\nratios: throughput, and CPU efficiency (the other's CPU per request / ours)")
    ours = "AsyncHttpxTransport"
    checks = [(f"{ours} c=50 / c=1", (ours, 50), (ours, 1), 0.9)]
    for c in CONCURRENCIES:
        best = max(("bare httpx, one client", "bare httpx, sharded"), key=lambda s: medians[s, c])
        checks.append((f"{ours} / best bare httpx, c={c}", (ours, c), (best, c), 0.8))
    for c in CONCURRENCIES:
        label = f"AiohttpTransport / bare aiohttp, c={c}"
        checks.append((label, ("AiohttpTransport", c), ("bare aiohttp", c), 0.8))
    if "HttptoolsTransport" in SETUPS:
        for c in CONCURRENCIES:
            label = f"HttptoolsTransport / bare aiohttp, c={c}"
            checks.append((label, ("HttptoolsTransport", c), ("bare aiohttp", c), 0.0))
    single = ("bare httpx, one client", 50), ("bare httpx, one client", 1)
    checks.append(("bare httpx one client c=50 / c=1", *single, 0.0))
    targets = []
    for label, mine, other, target in checks:
        ratio, efficiency = medians[mine] / medians[other], cpu[other] / cpu[mine]
        print(f"  {label:<44}{ratio:>6.2f}{efficiency:>8.2f}")
        if target:
            targets.append(Target(label, ratio, target))
    return report_targets(targets)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    add_smoke_flag(parser)
    args = parser.parse_args()
    if args.sink:
        run_sink()
        return 0
    rounds, requests = (1, 50) if args.smoke else (3, 400) if args.quick else (7, 2000)
    print(machine_note(smoke=args.smoke))
    with started_sink() as base:
        url = f"{base}/hook"
        print(f"sink at {url}; {rounds} rounds of {requests} requests per set-up and concurrency")
        medians = asyncio.run(benchmark(url, rounds, requests))
    return exit_code(report(medians), smoke=args.smoke)


if __name__ == "__main__":
    sys.exit(main())

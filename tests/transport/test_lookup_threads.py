"""Name lookups that never answer cannot pile up threads, whatever the transport.

A blocking lookup cannot be interrupted, so every transport runs it in a daemon thread and
abandons it when the attempt's total timeout runs out. The threads left behind are bounded:
attempts at a name whose lookup is still running join it, and past a shared cap of lookups
running at once an attempt fails at once, naming the host and the cause.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from transport_support import Deliver, LoopbackServer

from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.adapters.transport._lookups import LOOKUP_THREAD_NAME, MAX_RUNNING_LOOKUPS
from acadio_webhooks.adapters.transport.httpx import HttpxTransport
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest
from acadio_webhooks.ports.resolver import IPAddress

INSECURE = EndpointPolicy(allow_insecure=True)
QUICK = TransportTimeouts(connect=1.0, read=1.0, write=1.0, total=0.3)


class BlockedResolver:
    """A DNS server that does not answer until the test releases it, then answers loopback.

    ``waiting`` counts the threads blocked in it: the lookup threads left behind."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.calls = 0
        self.waiting = 0
        self._lock = threading.Lock()

    def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        with self._lock:
            self.calls += 1
            self.waiting += 1
        self.released.wait()
        with self._lock:
            self.waiting -= 1
        return [ipaddress.ip_address("127.0.0.1")]


def lookup_threads() -> int:
    return sum(thread.name == LOOKUP_THREAD_NAME for thread in threading.enumerate())


def wait_for_no_lookup_threads() -> None:
    deadline = time.monotonic() + 10
    while lookup_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lookup_threads() == 0


@pytest.fixture
def resolver() -> Iterator[BlockedResolver]:
    blocked = BlockedResolver()
    try:
        yield blocked
    finally:
        blocked.released.set()  # frees every abandoned lookup
        wait_for_no_lookup_threads()


def post(server: LoopbackServer, host: str) -> OutboundRequest:
    return OutboundRequest(url=server.url("/status/200", host=host), headers={}, body=b"{}")


def test_attempts_at_a_hanging_name_share_one_lookup_thread(
    deliver: Deliver, server: LoopbackServer, resolver: BlockedResolver
) -> None:
    request = post(server, "slow-dns.example.com")

    results = deliver(*[request] * 5, policy=INSECURE, resolver=resolver, timeouts=QUICK)

    # One lookup, still hanging, served all five: not one abandoned thread per attempt.
    assert (resolver.calls, resolver.waiting) == (1, 1)
    assert {(r.error_kind, r.status_code) for r in results} == {(ErrorKind.TIMEOUT, None)}
    assert server.connections == 0


def test_past_the_cap_of_running_lookups_an_attempt_fails_at_once(
    server: LoopbackServer, resolver: BlockedResolver
) -> None:
    names = [f"hang-{n}.example.com" for n in range(MAX_RUNNING_LOOKUPS + 6)]
    # Time enough for all 70 attempts to reach the lookup pool on a loaded machine: with
    # QUICK's 0.3 s, an attempt whose thread started late timed out before asking for a
    # lookup, leaving its slot to a name that should have been refused.
    patient = TransportTimeouts(connect=1.0, read=1.0, write=1.0, total=3.0)
    with (
        HttpxTransport(
            policy=INSECURE, resolver=resolver, timeouts=patient, max_connections=len(names)
        ) as transport,
        ThreadPoolExecutor(len(names)) as pool,
    ):
        results = list(pool.map(lambda name: transport.send(post(server, name)), names))

    assert resolver.waiting <= MAX_RUNNING_LOOKUPS
    refused = [r for r in results if r.error_kind is ErrorKind.CONNECT]
    # Nothing ever answered, so exactly the names past the cap were refused (another test's
    # lookup still finishing could take a slot too: at least that many).
    assert len(refused) >= len(names) - MAX_RUNNING_LOOKUPS
    assert all("name lookups are already running" in (r.error or "") for r in refused)
    assert all("hang-" in (r.error or "") for r in refused)  # the host that was refused
    timed_out = [r for r in results if r.error_kind is ErrorKind.TIMEOUT]
    assert len(refused) + len(timed_out) == len(names)
    assert server.connections == 0


def test_a_lookup_that_answers_late_is_not_reused_by_later_attempts(
    server: LoopbackServer, resolver: BlockedResolver
) -> None:
    with HttpxTransport(policy=INSECURE, resolver=resolver, timeouts=QUICK) as transport:
        [timed_out] = [transport.send(post(server, "late.example.com"))]
        resolver.released.set()
        wait_for_no_lookup_threads()
        answered = transport.send(post(server, "late.example.com"))

    assert timed_out.error_kind is ErrorKind.TIMEOUT
    assert answered.status_code == 200
    assert resolver.calls == 2  # looked up afresh: a finished lookup is never cached

"""The transport contract (``acadio_webhooks.ports.transport``), run against every transport.

Each test drives a real transport against a real HTTP server on 127.0.0.1 (see conftest):
what the core relies on is what an endpoint actually sees and what the transport reports.
Only 127.0.0.0/8 is ever connected to; other names go through a StaticResolver.
"""

from __future__ import annotations

import gc
import ipaddress
import socket
import threading
import warnings
from collections.abc import Sequence
from urllib.parse import quote

import pytest
from transport_support import Certificates, Deliver, LoopbackServer, send_after_closing_twice

from acadio_webhooks.adapters.resolver import StaticResolver
from acadio_webhooks.adapters.transport import TransportTimeouts
from acadio_webhooks.domain.endpoints import EndpointPolicy
from acadio_webhooks.domain.messages import ErrorKind, OutboundRequest
from acadio_webhooks.ports.resolver import IPAddress

INSECURE = EndpointPolicy(allow_insecure=True)
# Short bounds keep the timeout tests quick; the server drips a byte every 50 ms.
SHORT = TransportTimeouts(connect=1.0, read=0.4, write=1.0, total=0.8)


def post(url: str, body: bytes = b'{"topic": "course/completion/create"}') -> OutboundRequest:
    return OutboundRequest(url=url, headers={"Content-Type": "application/json"}, body=body)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- what the endpoint receives ------------------------------------------------------------


def test_the_endpoint_receives_exactly_the_request_headers_and_body(
    deliver: Deliver, server: LoopbackServer
) -> None:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "acadio-webhooks/1.0",
        "X-Acadio-Hmac-Sha256": "c2lnbmF0dXJl",
        "X-Acadio-Topic": "course/completion/create",
        "webhook-id": "evt_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1,c2ln",
    }
    body = b'{"id": "evt_1", "data": {"grade": 92}}'

    deliver(OutboundRequest(url=server.url("/status/200"), headers=headers, body=body),
            policy=INSECURE)  # fmt: skip

    [received] = server.received
    assert (received.method, received.path, received.body) == ("POST", "/status/200", body)
    protocol_headers = {"host": f"127.0.0.1:{server.port}", "content-length": str(len(body))}
    assert {k.lower(): v for k, v in received.headers} == {
        **{k.lower(): v for k, v in headers.items()},
        **protocol_headers,
    }
    assert len(received.headers) == len(headers) + len(protocol_headers)


def test_no_header_is_added_even_when_the_request_has_few(
    deliver: Deliver, server: LoopbackServer
) -> None:
    bare = OutboundRequest(url=server.url("/status/204"), headers={"X-Only": "1"}, body=b"x")

    deliver(bare, policy=INSECURE)

    assert sorted(k.lower() for k, _ in server.received[0].headers) == [
        "content-length",
        "host",
        "x-only",
    ]


def test_a_pinned_connection_keeps_the_host_name_in_the_host_header(
    deliver: Deliver, server: LoopbackServer
) -> None:
    resolver = StaticResolver({"hooks.example.com": ["127.0.0.1"]})

    [result] = deliver(post(server.url("/status/200", host="hooks.example.com")),
                       policy=INSECURE, resolver=resolver)  # fmt: skip

    assert result.status_code == 200
    assert dict(server.received[0].headers)["Host"] == f"hooks.example.com:{server.port}"


def test_close_is_idempotent_and_a_closed_transport_refuses_to_send(
    transport_kind: str, server: LoopbackServer
) -> None:
    with pytest.raises(RuntimeError, match="after close"):
        send_after_closing_twice(transport_kind, post(server.url("/status/200")), policy=INSECURE)

    assert len(server.received) == 1


# -- statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "excerpt"), [(200, b"status 200"), (204, b"")])
def test_a_2xx_is_a_success_with_the_body_excerpt(
    deliver: Deliver, server: LoopbackServer, status: int, excerpt: bytes
) -> None:
    [result] = deliver(post(server.url(f"/status/{status}")), policy=INSECURE)

    assert result.succeeded
    assert (result.status_code, result.body_excerpt, result.error_kind) == (status, excerpt, None)
    assert result.duration > 0


def test_a_500_is_reported_not_raised(deliver: Deliver, server: LoopbackServer) -> None:
    [result] = deliver(post(server.url("/status/500")), policy=INSECURE)

    assert not result.succeeded
    assert (result.status_code, result.body_excerpt, result.error_kind) == (
        500,
        b"status 500",
        None,
    )


def test_a_redirect_is_returned_not_followed(deliver: Deliver, server: LoopbackServer) -> None:
    [result] = deliver(post(server.url("/redirect")), policy=INSECURE)

    assert result.status_code == 302
    assert not result.succeeded
    assert result.error is not None
    assert "https://elsewhere.example/hook" in result.error
    assert len(server.received) == 1


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0), ("whenever", None)],
)
def test_retry_after_is_parsed(
    deliver: Deliver, server: LoopbackServer, header: str, seconds: float | None
) -> None:
    [result] = deliver(post(server.url(f"/retry-after/{quote(header)}")), policy=INSECURE)

    assert result.status_code == 429
    assert result.retry_after == seconds


def test_keep_alive_connections_are_reused(deliver: Deliver, server: LoopbackServer) -> None:
    results = deliver(*[post(server.url("/status/200"))] * 3, policy=INSECURE)

    assert [r.status_code for r in results] == [200, 200, 200]
    assert server.connections == 1


def test_alternating_endpoints_each_keep_their_connection(
    deliver: Deliver, server: LoopbackServer
) -> None:
    resolver = StaticResolver({"a.example.com": ["127.0.0.1"], "b.example.com": ["127.0.0.1"]})
    urls = [server.url("/status/200", host=host) for host in ("a.example.com", "b.example.com")]

    results = deliver(*[post(url) for url in urls * 3], policy=INSECURE, resolver=resolver)

    assert [r.status_code for r in results] == [200] * 6
    assert server.connections == 2


# -- bounds --------------------------------------------------------------------------------


def test_the_excerpt_is_the_start_of_the_body(deliver: Deliver, server: LoopbackServer) -> None:
    [result] = deliver(post(server.url("/big/5000")), policy=INSECURE, excerpt_bytes=100)

    assert result.status_code == 200
    assert result.body_excerpt == bytes(i % 251 for i in range(100))


def test_an_endless_response_is_cut_at_the_cap(deliver: Deliver, server: LoopbackServer) -> None:
    # The server streams forever: only the cap can end this attempt before the total timeout.
    [result] = deliver(
        post(server.url("/endless")),
        policy=INSECURE,
        max_response_bytes=32 * 1024,
        timeouts=TransportTimeouts(total=60),
    )

    assert (result.status_code, result.error_kind) == (200, None)
    assert result.body_excerpt == b"e" * 1024


def test_a_silent_endpoint_times_out(deliver: Deliver, server: LoopbackServer) -> None:
    [result] = deliver(post(server.url("/hang")), policy=INSECURE, timeouts=SHORT)

    assert (result.status_code, result.error_kind) == (None, ErrorKind.TIMEOUT)


@pytest.mark.parametrize("behaviour", ["drip-body", "drip-headers"])
def test_a_slow_drip_is_cut_off_by_the_total_timeout(
    deliver: Deliver, server: LoopbackServer, behaviour: str
) -> None:
    # A byte every 50 ms never trips the 0.4 s read timeout; only the 0.8 s total can end it.
    [result] = deliver(post(server.url(f"/{behaviour}")), policy=INSECURE, timeouts=SHORT)

    assert result.status_code is None
    assert result.error_kind is ErrorKind.TIMEOUT


class HangingResolver:
    """A DNS server that does not answer: ``resolve`` waits until released (at most 10 s, so
    a transport that waits for it still ends), then answers with loopback."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.answered = threading.Event()

    def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.released.wait(timeout=10)
        self.answered.set()
        return [ipaddress.ip_address("127.0.0.1")]


def test_a_hanging_name_lookup_is_cut_off_by_the_total_timeout(
    deliver: Deliver, server: LoopbackServer
) -> None:
    resolver = HangingResolver()
    try:
        [result] = deliver(
            post(server.url("/status/200", host="slow-dns.example.com")),
            policy=INSECURE,
            resolver=resolver,
            timeouts=SHORT,
        )
        # The attempt ended while the lookup still hung: the transport did not wait for it.
        assert not resolver.answered.is_set()
    finally:
        resolver.released.set()  # frees the abandoned lookup

    assert (result.status_code, result.error_kind) == (None, ErrorKind.TIMEOUT)
    assert server.connections == 0


# -- network failures ----------------------------------------------------------------------


def test_a_refused_connection_is_a_connect_error(deliver: Deliver) -> None:
    [result] = deliver(post(f"http://127.0.0.1:{closed_port()}/hook"), policy=INSECURE)

    assert (result.status_code, result.error_kind) == (None, ErrorKind.CONNECT)
    assert result.error


def test_an_unresolvable_name_is_a_connect_error(deliver: Deliver) -> None:
    [result] = deliver(post("https://nowhere.example.com/hook"), resolver=StaticResolver())

    assert (result.status_code, result.error_kind) == (None, ErrorKind.CONNECT)
    assert "nowhere.example.com" in (result.error or "")


@pytest.mark.parametrize("behaviour", ["close", "garbage"])
def test_a_broken_exchange_is_a_protocol_error(
    deliver: Deliver, server: LoopbackServer, behaviour: str
) -> None:
    [result] = deliver(post(server.url(f"/{behaviour}")), policy=INSECURE)

    assert (result.status_code, result.error_kind) == (None, ErrorKind.PROTOCOL)


# -- TLS: the connection is pinned to an address, verification stays on the name --------------


def test_tls_is_verified_against_the_host_name_of_a_pinned_connection(
    deliver: Deliver, tls_server: LoopbackServer, certificates: Certificates
) -> None:
    [result] = deliver(
        post(tls_server.url("/status/200", host="hooks.example.com")),
        policy=INSECURE,
        resolver=StaticResolver({"hooks.example.com": ["127.0.0.1"]}),
        ssl_context=certificates.client_context(),
    )

    assert result.status_code == 200
    assert tls_server.server_names == ["hooks.example.com"]


def test_closing_the_transport_shuts_its_tls_connections(
    deliver: Deliver, tls_server: LoopbackServer, certificates: Certificates
) -> None:
    # A kept-alive TLS connection still open when the transport closes must be shut then, not
    # left for the garbage collector to find once the event loop has gone.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        [result] = deliver(
            post(tls_server.url("/status/200", host="hooks.example.com")),
            policy=INSECURE,
            resolver=StaticResolver({"hooks.example.com": ["127.0.0.1"]}),
            ssl_context=certificates.client_context(),
        )
        gc.collect()

    assert result.status_code == 200
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_a_certificate_for_another_name_is_a_tls_error(
    deliver: Deliver, tls_server: LoopbackServer, certificates: Certificates
) -> None:
    [result] = deliver(
        post(tls_server.url("/status/200", host="imposter.example.com")),
        policy=INSECURE,
        resolver=StaticResolver({"imposter.example.com": ["127.0.0.1"]}),
        ssl_context=certificates.client_context(),
    )

    assert (result.status_code, result.error_kind) == (None, ErrorKind.TLS)
    assert tls_server.received == []


# -- endpoint safety (SSRF) ----------------------------------------------------------------


def test_a_name_resolving_to_loopback_is_blocked_before_connecting(
    deliver: Deliver, server: LoopbackServer
) -> None:
    resolver = StaticResolver({"hooks.example.com": ["127.0.0.1"]})

    [result] = deliver(post(f"https://hooks.example.com:{server.port}/status/200"),
                       resolver=resolver)  # fmt: skip

    assert (result.status_code, result.error_kind) == (None, ErrorKind.BLOCKED)
    assert "127.0.0.1" in (result.error or "")
    assert server.connections == 0


def test_one_forbidden_answer_among_public_ones_blocks_the_name(
    deliver: Deliver, server: LoopbackServer
) -> None:
    resolver = StaticResolver({"hooks.example.com": ["127.0.0.1", "93.184.216.34"]})

    [result] = deliver(post(f"https://hooks.example.com:{server.port}/status/200"),
                       resolver=resolver)  # fmt: skip

    assert result.error_kind is ErrorKind.BLOCKED
    assert server.connections == 0


def test_dns_rebinding_after_registration_is_blocked_at_connection_time(
    deliver: Deliver, server: LoopbackServer
) -> None:
    policy = EndpointPolicy()
    resolver = StaticResolver({"hooks.example.com": ["93.184.216.34"]})
    url = f"https://hooks.example.com:{server.port}/status/200"
    # Registration: the URL and what the name resolves to then are both fine.
    endpoint = policy.check_url(url)
    policy.check_addresses(endpoint.host, resolver.resolve(endpoint.host, endpoint.port))
    # The attacker's DNS now answers with loopback.
    resolver.set("hooks.example.com", ["127.0.0.1"])

    [result] = deliver(post(url), policy=policy, resolver=resolver)

    assert result.error_kind is ErrorKind.BLOCKED
    assert server.connections == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/status/200",  # loopback literal (and plain http)
        "https://127.0.0.1:{port}/status/200",
        "https://[::ffff:127.0.0.1]:{port}/status/200",
        "https://2130706433:{port}/status/200",
        "https://localhost:{port}/status/200",
    ],
)
def test_forbidden_urls_are_blocked_by_the_default_policy(
    deliver: Deliver, server: LoopbackServer, url: str
) -> None:
    [result] = deliver(post(url.format(port=server.port)), resolver=StaticResolver())

    assert (result.status_code, result.error_kind) == (None, ErrorKind.BLOCKED)
    assert server.connections == 0


class CountingResolver(StaticResolver):
    def __init__(self, mapping: dict[str, list[str]]) -> None:
        super().__init__(mapping)
        self.lookups = 0

    def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups += 1
        return super().resolve(host, port)


@pytest.mark.parametrize(("behaviour", "connections"), [("status/200", 1), ("close", 3)])
def test_every_new_connection_is_resolved_and_checked_again(
    deliver: Deliver, server: LoopbackServer, behaviour: str, connections: int
) -> None:
    resolver = CountingResolver({"hooks.example.com": ["127.0.0.1"]})
    url = server.url(f"/{behaviour}", host="hooks.example.com")

    deliver(post(url), post(url), post(url), policy=INSECURE, resolver=resolver)

    assert server.connections == connections
    assert resolver.lookups == connections
